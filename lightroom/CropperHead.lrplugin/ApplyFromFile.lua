--[[ ApplyFromFile.lua
Library > Plug-in Extras > Apply suggestions from a file.

For predictions made elsewhere (python predict.py ... output=PRED.jsonl on a machine
with a GPU): choose the file, give path maps OLD=NEW when the photos lay in other
folders there (Paths.lua: cropperhead/scan/relocate.py's rule), and the suggestions are
applied exactly as the other command does (Apply.lua).

Which photos: the selected ones; with none selected, every photo of the catalog (after
a confirmation, since that may be many), so that a file made for a whole folder can be
applied without first finding its photos. A record applies only while the photo is
shown in the orientation the suggestion was made for (its "lightroom.orientation").
]]

local LrApplication = import "LrApplication"
local LrBinding = import "LrBinding"
local LrDialogs = import "LrDialogs"
local LrFunctionContext = import "LrFunctionContext"
local LrPathUtils = import "LrPathUtils"
local LrProgressScope = import "LrProgressScope"
local LrTasks = import "LrTasks"
local LrView = import "LrView"

local Apply = require "Apply"
local Paths = require "Paths"
local Predictions = require "Predictions"
local Prefs = require "Prefs"
local Report = require "Report"

local ApplyFromFile = {}

ApplyFromFile.TITLE = "CropperHead: apply suggestions from a file"

--- Path maps as typed: one OLD=NEW per line; ";" also separates maps.
function ApplyFromFile.parseMaps(text)
	local home = LrPathUtils.getStandardFilePath("home")
	return Paths.parseMaps((text or ""):gsub(";", "\n"), home)
end

--- The options dialog. Returns the property table after OK, or nil.
function ApplyFromFile.askOptions(context, file, prefs)
	local f = LrView.osFactory()
	local bind = LrView.bind
	local props = LrBinding.makePropertyTable(context)
	props.file = file
	props.pathMaps = prefs.pathMaps or ""
	props.replaceExisting = prefs.replaceExisting == true
	local contents = f:column {
		bind_to_object = props,
		spacing = f:control_spacing(),
		f:row {
			f:static_text { title = "Predictions:" },
			f:static_text { title = bind "file", width_in_chars = 60, truncation = "middle" },
		},
		f:static_text {
			title = "Photos in other folders there? One path map OLD=NEW per line (or separated by ;),\n"
				.. "e.g. C:/Users/me/Pictures=/Volumes/Photos. Leave empty when the paths are the same.",
		},
		f:edit_field { value = bind "pathMaps", width_in_chars = 60, height_in_lines = 3 },
		f:checkbox { title = "Replace existing crops", value = bind "replaceExisting" },
	}
	local result = LrDialogs.presentModalDialog {
		title = ApplyFromFile.TITLE,
		contents = contents,
		actionVerb = "Apply",
	}
	if result ~= "ok" then return nil end
	return props
end

--- The command's body, in an async task with a function context.
function ApplyFromFile.main(context)
	local catalog = LrApplication.activeCatalog()
	local prefs = Prefs.get()
	local chosen = LrDialogs.runOpenPanel {
		title = "Choose a CropperHead predictions file (JSONL)",
		canChooseFiles = true,
		canChooseDirectories = false,
		allowsMultipleSelection = false,
		fileTypes = { "jsonl", "json", "txt" },
	}
	if not chosen or not chosen[1] then return end
	local file = chosen[1]
	local props = ApplyFromFile.askOptions(context, file, prefs)
	if not props then return end
	local maps, err = ApplyFromFile.parseMaps(props.pathMaps)
	if not maps then
		LrDialogs.message(ApplyFromFile.TITLE, err, "critical")
		return
	end
	prefs.pathMaps = props.pathMaps
	prefs.replaceExisting = props.replaceExisting == true

	local parsed
	parsed, err = Predictions.read(file)
	if not parsed then
		LrDialogs.message(ApplyFromFile.TITLE, err, "critical")
		return
	end

	local photos
	local wholeCatalog = catalog:getTargetPhoto() == nil
	if not wholeCatalog then
		photos = catalog:getTargetPhotos()
	else
		photos = catalog:getAllPhotos()
		local answer = LrDialogs.confirm(
			"No photos are selected. Look for the photos of these suggestions in the whole catalog?",
			string.format("%d suggestions, %d photos in the catalog. Select photos first to limit it.",
				#parsed.records, #photos),
			"Whole catalog", "Cancel")
		if answer ~= "ok" then return end
	end

	local progress = LrProgressScope { title = ApplyFromFile.TITLE, functionContext = context }
	progress:setCaption("Matching the suggestions to the photos")
	local lookup = Predictions.index(parsed.records, maps)
	local report = Report.new()
	for _, e in ipairs(parsed.errors) do report:note("Predictions " .. e) end
	local items, used = {}, {}
	for i, photo in ipairs(photos) do
		local path = photo:getRawMetadata("path")
		local item = { photo = photo, path = path, name = Apply.describe(photo, path) }
		if photo:getRawMetadata("fileFormat") == "VIDEO" then
			report:skip(item, "video")
		else
			item.record = lookup(path)
			if item.record then used[item.record] = true end
			-- In the whole catalog only the photos that have a suggestion count.
			if item.record or not wholeCatalog then items[#items + 1] = item end
		end
		if i % 200 == 0 then
			if progress:isCanceled() then return end
			LrTasks.yield()
		end
	end
	local unused = 0
	for _, record in ipairs(parsed.records) do
		if not used[record] then unused = unused + 1 end
	end
	if unused > 0 then
		report:note(string.format("%d of the file's %d suggestions matched no %s photo%s.", unused,
			#parsed.records, wholeCatalog and "catalog" or "selected",
			#maps == 0 and " (photos in other folders there? give a path map)" or ""))
	end
	Apply.applyAll(catalog, items, {
		replaceExisting = prefs.replaceExisting,
		progress = progress,
		notFoundDetail = #maps == 0 and "no record with this path (a path map may help)" or nil,
		orientationHint = "make the suggestion again in this orientation",
	}, report)
	progress:done()
	LrDialogs.message(ApplyFromFile.TITLE, report:text(Apply.HISTORY_NAME), "info")
end

--- The menu command.
function ApplyFromFile.run()
	LrTasks.startAsyncTask(function()
		LrFunctionContext.callWithContext("CropperHead.ApplyFromFile", function(context)
			LrDialogs.attachErrorDialogToFunctionContext(context)
			ApplyFromFile.main(context)
		end)
	end)
end

return ApplyFromFile
