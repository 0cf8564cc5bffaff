--[[ harness.lua: run the plug-in under plain lua5.1 against the fake SDK.

    lua5.1 harness.lua SCENARIO.json

The scenario (written by tests/lightroom/test_plugin.py) names the plug-in folder, the
platform, photos, prefs, queued dialog answers and what LrTasks.execute does; then
either "entry" (a plug-in file run as Lightroom runs a menu item) or "chunk" (a Lua file
whose return value is recorded). The recorded calls go to scenario.output as JSON.
]]

local scenarioPath = assert(arg[1], "usage: lua5.1 harness.lua SCENARIO.json")
local here = arg[0]:match("^(.*)/[^/]+$") or "."

local function slurp(path)
	local handle = assert(io.open(path, "rb"))
	local text = handle:read("*a")
	handle:close()
	return text
end

-- The plug-in's folder first (Json is found there), then the fake SDK.
local firstPass = slurp(scenarioPath):match('"plugin_dir"%s*:%s*"(.-)"')
package.path = firstPass .. "/?.lua;" .. here .. "/?.lua;" .. package.path

local Json = require "Json"
local scenario = assert(Json.decode(slurp(scenarioPath)))
local FakeState = require "FakeState"
FakeState.scenario = scenario
math.randomseed(os.time())

-- Lightroom's globals.
import = function(name) return require(name) end
WIN_ENV = scenario.platform == "win"
MAC_ENV = not WIN_ENV
_PLUGIN = { path = scenario.plugin_dir, id = "com.cropperhead.lightroom" }
LOC = function(s) return (s:gsub("^%$%$%$[^=]*=", "")) end

local ok, err = pcall(function()
	if scenario.entry then
		dofile(scenario.plugin_dir .. "/" .. scenario.entry)
	end
	if scenario.chunk then
		FakeState.log.result = dofile(scenario.chunk)
	end
end)
if not ok then FakeState.log.harness_error = tostring(err) end

local photos = Json.array()
local LrApplication = require "LrApplication"
for i, photo in ipairs(LrApplication.activeCatalog().photos) do photos[i] = photo.develop end
FakeState.log.final_develop = photos
FakeState.log.prefs = scenario.prefs or {}

local out = assert(io.open(scenario.output, "wb"))
out:write(Json.encode(FakeState.log))
out:close()
