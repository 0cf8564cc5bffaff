--[[ Apply.lua
The one step both commands end with: decide for each photo whether its suggestion is
applied, then apply them all inside one catalog:withWriteAccessDo (one Edit > Undo
step), each with photo:applyDevelopSettings(settings, "CropperHead crop"): one named
history step per photo. Only the crop changes: CropLeft, CropTop, CropRight,
CropBottom, CropAngle and HasCrop; every other develop setting stays as it is. Nothing
is written to any file.

The crop values come from the record's "lightroom" object, computed by CropperHead's
geometry in Python (cropperhead/predict/lightroom.py): no geometry here.
]]

local LrTasks = import "LrTasks"

local Orientation = require "Orientation"
local Paths = require "Paths"

local Apply = {}

Apply.HISTORY_NAME = "CropperHead crop"
Apply.ACTION_NAME = "CropperHead: apply suggested crops"
Apply.WRITE_TIMEOUT = 60

local EDGES = { "CropLeft", "CropTop", "CropRight", "CropBottom" }
local FULL = { CropLeft = 0, CropTop = 0, CropRight = 1, CropBottom = 1, CropAngle = 0 }
local EPSILON = 1e-6
local SLACK = 1e-6

--- True when develop settings hold a crop: not the full frame, or an angle. A HasCrop
-- that is false means no crop whatever the values say.
function Apply.hasCrop(settings)
	if type(settings) ~= "table" then return false end
	if settings.HasCrop == false then return false end
	for key, full in pairs(FULL) do
		local value = tonumber(settings[key])
		if value and math.abs(value - full) > EPSILON then return true end
	end
	return false
end

local function finite(x)
	return type(x) == "number" and x == x and x ~= math.huge and x ~= -math.huge
end

--- The develop settings for a record, or nil, a Report reason code and a detail.
function Apply.settingsFor(record)
	local lr = record.lightroom
	if type(lr) ~= "table" then
		return nil, "no-lightroom-values", "predictions made by an older CropperHead: predict again"
	end
	local settings = { HasCrop = true }
	for _, key in ipairs(EDGES) do
		local value = lr[key]
		if not finite(value) or value < -SLACK or value > 1 + SLACK then
			return nil, "bad-suggestion", string.format("%s is %s", key, tostring(value))
		end
		settings[key] = math.min(math.max(value, 0), 1)
	end
	local angle = lr.CropAngle
	if angle == nil then angle = 0 end
	if not finite(angle) or math.abs(angle) > 45 + SLACK then
		return nil, "bad-suggestion", "CropAngle is " .. tostring(angle)
	end
	settings.CropAngle = angle
	return settings
end

--- Photo name for the dialog: the file name, and the copy name of a virtual copy.
function Apply.describe(photo, path)
	local name = Paths.leafName(path or "?")
	local ok, copy = LrTasks.pcall(function() return photo:getFormattedMetadata("copyName") end)
	if ok and type(copy) == "string" and copy ~= "" then name = name .. " (" .. copy .. ")" end
	return name
end

--- Decide what happens to one photo. item: photo, name, record (or nil), orientation (the
-- photo's Lightroom code or nil). Returns the settings to apply, or nil after telling the
-- report why not.
function Apply.decide(item, options, report)
	local record = item.record
	if not record then
		report:skip(item, "not-in-predictions", options.notFoundDetail)
		return nil
	end
	if record.leave_uncropped == true then
		report:skip(item, "left-uncropped")
		return nil
	end
	local settings, code, detail = Apply.settingsFor(record)
	if not settings then
		report:skip(item, code, detail)
		return nil
	end
	local suggested = type(record.lightroom.orientation) == "string"
		and record.lightroom.orientation:upper() or nil
	if item.orientation and suggested ~= item.orientation then
		report:skip(item, "orientation-changed", string.format(
			"suggested for orientation %s, shown as %s in Lightroom now; %s",
			suggested or "unknown", item.orientation, options.orientationHint or "suggest crops again"))
		return nil
	end
	if not options.replaceExisting and Apply.hasCrop(item.photo:getDevelopSettings()) then
		report:skip(item, "already-cropped")
		return nil
	end
	return settings
end

--- Apply the records of items to their photos. options: replaceExisting, progress (an
-- LrProgressScope or nil), notFoundDetail, orientationHint. Every item ends up in the
-- report, as applied or skipped.
function Apply.applyAll(catalog, items, options, report)
	local progress = options.progress
	local work = {}
	for _, item in ipairs(items) do
		if item.orientation == nil then
			item.orientation = Orientation.current(item.photo:getDevelopSettings())
		end
		local settings = Apply.decide(item, options, report)
		if settings then work[#work + 1] = { item = item, settings = settings } end
	end
	if #work == 0 then return report end

	if progress then progress:setCaption(string.format("Applying %d crops", #work)) end
	local done = 0
	local ok, err = LrTasks.pcall(function()
		catalog:withWriteAccessDo(Apply.ACTION_NAME, function()
			for i, job in ipairs(work) do
				if progress and progress:isCanceled() then
					for j = i, #work do report:skip(work[j].item, "cancelled") end
					done = #work
					return
				end
				local applied, problem = LrTasks.pcall(function()
					job.item.photo:applyDevelopSettings(job.settings, Apply.HISTORY_NAME)
				end)
				if applied then
					report:apply(job.item)
				else
					report:skip(job.item, "failed", tostring(problem))
				end
				done = i
				if progress then progress:setPortionComplete(i, #work) end
			end
		end, { timeout = Apply.WRITE_TIMEOUT })
	end)
	if not ok then
		for j = done + 1, #work do
			report:skip(work[j].item, "failed", "catalog not writable: " .. tostring(err))
		end
	end
	return report
end

return Apply
