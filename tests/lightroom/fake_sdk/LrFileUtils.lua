-- Fake LrFileUtils on the real file system; a scenario photo may say exists = false.
local FakeState = require "FakeState"

local LrFileUtils = {}

local function test(flag, path)
	local status = os.execute("test " .. flag .. " " .. FakeState.posixQuote(path))
	return status == 0 or status == true
end

function LrFileUtils.exists(path)
	for _, spec in ipairs(FakeState.scenario.photos or {}) do
		if spec.path == path and spec.exists ~= nil then return spec.exists and "file" or false end
	end
	if test("-d", path) then return "directory" end
	if test("-e", path) then return "file" end
	return false
end

function LrFileUtils.readFile(path)
	local handle = io.open(path, "rb")
	if not handle then return nil end
	local text = handle:read("*a")
	handle:close()
	return text
end

function LrFileUtils.createAllDirectories(path)
	os.execute("mkdir -p " .. FakeState.posixQuote(path))
	return true
end

function LrFileUtils.delete(path)
	FakeState.record("deleted", path)
	local temp = FakeState.scenario.temp
	if temp and path:sub(1, #temp) == temp and #path > #temp then
		os.execute("rm -rf " .. FakeState.posixQuote(path))
	end
	return true
end

return LrFileUtils
