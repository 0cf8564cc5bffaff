-- Fake LrLogger: log lines are recorded.
local FakeState = require "FakeState"

local Logger = {}
Logger.__index = Logger

function Logger:enable(_) end

local function method(level)
	return function(self, ...)
		local parts = {}
		for i = 1, select("#", ...) do parts[#parts + 1] = tostring(select(i, ...)) end
		FakeState.record("logger", level .. ": " .. table.concat(parts, " "))
	end
end

for _, level in ipairs({ "trace", "debug", "info", "warn", "error" }) do Logger[level] = method(level) end
Logger.tracef, Logger.infof = Logger.trace, Logger.info

return setmetatable({}, {
	__call = function(_, name) return setmetatable({ name = name }, Logger) end,
})
