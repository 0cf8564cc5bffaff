-- Fake LrView: every factory method returns { type = name, args = its table }.
local LrView = {}

local Factory = {}
Factory.__index = function(_, name)
	if name == "control_spacing" or name == "label_spacing" or name == "dialog_spacing" then
		return function() return 8 end
	end
	return function(_, args) return { type = name, args = args or {} } end
end

function LrView.osFactory() return setmetatable({}, Factory) end

function LrView.bind(key)
	if type(key) == "table" then return { bind = key.key } end
	return { bind = key }
end

function LrView.share(name) return { share = name } end

return LrView
