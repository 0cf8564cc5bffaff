--[[ SuggestCrops.lua
Library > Plug-in Extras > Suggest crops for the selected photos.

For the selected photos: skip videos, photos whose file is missing and (unless
"Replace existing crops" is ticked) photos that already have a crop; run the predictor
on the rest's original files, in the orientation Lightroom shows them; apply each
suggestion (Apply.lua); report what was done.
]]

local LrApplication = import "LrApplication"
local LrDialogs = import "LrDialogs"
local LrFileUtils = import "LrFileUtils"
local LrFunctionContext = import "LrFunctionContext"
local LrProgressScope = import "LrProgressScope"
local LrTasks = import "LrTasks"

local Apply = require "Apply"
local Orientation = require "Orientation"
local Predictions = require "Predictions"
local Prefs = require "Prefs"
local Report = require "Report"
local RunPredictor = require "RunPredictor"

local SuggestCrops = {}

SuggestCrops.TITLE = "CropperHead: suggest crops"

--- The command's body, in an async task with a function context.
function SuggestCrops.main(context)
	local catalog = LrApplication.activeCatalog()
	local photos = catalog:getTargetPhotos()
	if #photos == 0 then
		LrDialogs.message(SuggestCrops.TITLE, "Select the photos to crop first.", "info")
		return
	end
	local prefs = Prefs.get()
	local command, checkpoint = Prefs.trim(prefs.command), Prefs.trim(prefs.checkpoint)
	if command == "" or checkpoint == "" then
		LrDialogs.message(SuggestCrops.TITLE,
			"Set the predictor's command and checkpoint first: File > Plug-in Manager > CropperHead.",
			"critical")
		return
	end
	local replace = prefs.replaceExisting == true

	local progress = LrProgressScope { title = SuggestCrops.TITLE, functionContext = context }
	progress:setCaption("Looking at the photos")
	local report = Report.new()
	local pending, paths, orientations, seen = {}, {}, {}, {}
	for _, photo in ipairs(photos) do
		local path = photo:getRawMetadata("path")
		local item = { photo = photo, path = path, name = Apply.describe(photo, path) }
		if photo:getRawMetadata("fileFormat") == "VIDEO" then
			report:skip(item, "video")
		elseif LrFileUtils.exists(path) ~= "file" then
			report:skip(item, "missing-file", path)
		else
			local settings = photo:getDevelopSettings()
			if not replace and Apply.hasCrop(settings) then
				report:skip(item, "already-cropped")
			else
				item.orientation = Orientation.current(settings)
				pending[#pending + 1] = item
				if not seen[path] then
					seen[path] = true
					paths[#paths + 1] = path
					-- A virtual copy turned differently from its master shares the file: the
					-- first photo's orientation is used, the other is skipped by the
					-- orientation check.
					orientations[path] = Orientation.toExif(item.orientation)
				end
			end
		end
		if progress:isCanceled() then return end
	end

	if #pending > 0 then
		progress:setCaption(string.format("Suggesting crops for %d photos", #paths))
		local result = RunPredictor.run {
			paths = paths,
			orientations = orientations,
			command = command,
			checkpoint = checkpoint,
			extraOptions = prefs.extraOptions,
			windows = WIN_ENV == true,
		}
		if not result.ok then
			progress:done()
			LrDialogs.message(SuggestCrops.TITLE, result.message, "critical")
			return
		end
		context:addCleanupHandler(function() RunPredictor.removeWorkDir(result.workDir) end)
		local parsed, err = Predictions.read(result.predictions)
		if not parsed then
			progress:done()
			LrDialogs.message(SuggestCrops.TITLE, err, "critical")
			return
		end
		for _, e in ipairs(parsed.errors) do report:note("Predictions " .. e) end
		local found = Predictions.matchRun(parsed.records, paths)
		for _, item in ipairs(pending) do item.record = found[item.path] end
		local summary
		for _, line in ipairs(result.summary) do
			if line:match("^skipped") then summary = line end
		end
		Apply.applyAll(catalog, pending, {
			replaceExisting = replace,
			progress = progress,
			notFoundDetail = "the predictor could not read it" .. (summary and (" (its summary: " .. summary .. ")") or ""),
			orientationHint = "the predictor did not use Lightroom's orientation (update CropperHead)",
		}, report)
	end
	progress:done()
	LrDialogs.message(SuggestCrops.TITLE, report:text(Apply.HISTORY_NAME), "info")
end

--- The menu command: an async task (LrTasks.execute and catalog writes need one) with
-- a function context that shows an error dialog if anything throws.
function SuggestCrops.run()
	LrTasks.startAsyncTask(function()
		LrFunctionContext.callWithContext("CropperHead.SuggestCrops", function(context)
			LrDialogs.attachErrorDialogToFunctionContext(context)
			SuggestCrops.main(context)
		end)
	end)
end

return SuggestCrops
