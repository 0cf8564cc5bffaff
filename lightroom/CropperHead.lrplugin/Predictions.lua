--[[ Predictions.lua
Reading predict's JSONL output (one record per line, docs/interfaces.md) and finding
each photo's record.

A record the plug-in uses:
  {"source": "/abs/IMG_1.CR2", "width": ..., "height": ..., "crop": {...},
   "lightroom": {"CropLeft": ..., "CropTop": ..., "CropRight": ..., "CropBottom": ...,
                 "CropAngle": ..., "orientation": "BC"},
   "leave_uncropped": true}          -- optional
Lines that are not such records are reported by line number and the rest is used.
]]

local LrFileUtils = import "LrFileUtils"
local LrTasks = import "LrTasks"

local Json = require "Json"
local Paths = require "Paths"

local Predictions = {}

--- Parse JSONL text: { records = {...}, errors = {"line 3: ..."} }.
function Predictions.parse(text)
	local records, errors = {}, {}
	local number = 0
	text = (text or ""):gsub("^\239\187\191", "") -- a UTF-8 byte order mark
	for line in (text .. "\n"):gmatch("([^\n]*)\n") do
		number = number + 1
		line = line:gsub("\r$", "")
		if line:match("%S") then
			local record, err = Json.decode(line)
			if record == nil then
				errors[#errors + 1] = string.format("line %d: %s", number, err)
			elseif type(record) ~= "table" or Json.isArray(record) then
				errors[#errors + 1] = string.format("line %d: not a JSON object", number)
			elseif type(record.source) ~= "string" or record.source == "" then
				errors[#errors + 1] = string.format("line %d: no \"source\" path", number)
			else
				record.line = number
				records[#records + 1] = record
			end
		end
	end
	return { records = records, errors = errors }
end

--- Read a predictions file. Returns the parse result, or nil and a one-line message
-- when the file cannot be read or holds no record at all.
function Predictions.read(path)
	local ok, text = LrTasks.pcall(LrFileUtils.readFile, path)
	if not ok or type(text) ~= "string" then
		return nil, string.format("Cannot read the predictions file %s.", path)
	end
	local first = text:match("^[^\n]*") or ""
	if first:match("^source,") then
		return nil, string.format("%s is a CSV file: make the predictions with format=jsonl.", path)
	end
	local result = Predictions.parse(text)
	if #result.records == 0 then
		if #result.errors > 0 then
			return nil, string.format("%s is not a CropperHead predictions file (%s).", path, result.errors[1])
		end
		return nil, string.format("The predictions file %s is empty.", path)
	end
	return result
end

--- An index of records by photo path, for a file made anywhere: each record is found
-- under its path moved by the path maps (when one matches) and under its path as written.
-- Later records win (a file that concatenates runs holds the newest last).
function Predictions.index(records, maps)
	local moved, written = {}, {}
	for _, record in ipairs(records) do
		local target = Paths.mapped(record.source, maps)
		if target then moved[Paths.key(target)] = record end
		written[Paths.key(record.source)] = record
	end
	return function(photoPath)
		local key = Paths.key(photoPath)
		return moved[key] or written[key]
	end
end

--- Pair the records of a run made on these photos with them: by path first; a record
-- whose path matches none (the predictor resolved a symbolic link, or spelled the
-- folder differently) goes to the one unmatched photo of the same file name, if there
-- is exactly one. Returns a table photo path -> record.
function Predictions.matchRun(records, photoPaths)
	local byKey, found = {}, {}
	for _, path in ipairs(photoPaths) do byKey[Paths.key(path)] = path end
	local leftover = {}
	for _, record in ipairs(records) do
		local path = byKey[Paths.key(record.source)]
		if path then found[path] = record else leftover[#leftover + 1] = record end
	end
	local byName = {}
	for _, path in ipairs(photoPaths) do
		if not found[path] then
			local name = Paths.leafName(path)
			byName[name] = byName[name] and false or path
		end
	end
	for _, record in ipairs(leftover) do
		local path = byName[Paths.leafName(record.source)]
		if path and not found[path] then found[path] = record end
	end
	return found
end

return Predictions
