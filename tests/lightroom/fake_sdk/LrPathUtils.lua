-- Fake LrPathUtils: "/" or, for a Windows scenario, "\" between names.
local FakeState = require "FakeState"

local LrPathUtils = {}

local function sep() return FakeState.scenario.platform == "win" and "\\" or "/" end

function LrPathUtils.child(path, name)
	local joined
	if path:sub(-1) == "/" or path:sub(-1) == "\\" then joined = path .. name else joined = path .. sep() .. name end
	FakeState.children[#FakeState.children + 1] = joined
	return joined
end

function LrPathUtils.leafName(path) return path:match("([^/\\]+)[/\\]*$") end

function LrPathUtils.parent(path) return path:match("^(.*)[/\\][^/\\]+[/\\]*$") end

function LrPathUtils.getStandardFilePath(kind)
	if kind == "temp" then return FakeState.scenario.temp end
	if kind == "home" then return FakeState.scenario.home or "/home/user" end
	return FakeState.scenario.temp
end

function LrPathUtils.standardizePath(path) return path end

return LrPathUtils
