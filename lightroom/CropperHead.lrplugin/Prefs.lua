--[[ Prefs.lua
The plug-in's settings (LrPrefs, set in File > Plug-in Manager > CropperHead).
]]

local LrPrefs = import "LrPrefs"

local Prefs = {}

Prefs.DEFAULTS = {
	-- How to run the predictor; takes predict.py's key=value options.
	command = "cropperhead predict",
	-- A checkpoint from train.py or a model from `cropperhead export`.
	checkpoint = "",
	-- More key=value options for the predictor, e.g. aspect=original.
	extraOptions = "",
	-- Replace crops the photographer already made.
	replaceExisting = false,
	-- Apply from a file: the last path maps used (one OLD=NEW per line).
	pathMaps = "",
}

--- The plug-in's preferences, with a default for every unset key.
function Prefs.get()
	local prefs = LrPrefs.prefsForPlugin()
	for key, value in pairs(Prefs.DEFAULTS) do
		if prefs[key] == nil then prefs[key] = value end
	end
	return prefs
end

--- Text with surrounding white space removed ("" for nil).
function Prefs.trim(value)
	if type(value) ~= "string" then return "" end
	return (value:gsub("^%s+", ""):gsub("%s+$", ""))
end

return Prefs
