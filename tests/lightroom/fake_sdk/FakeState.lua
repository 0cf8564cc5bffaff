-- The fake SDK's shared state: the scenario the test gave and the calls recorded.
local Json = require "Json"

local FakeState = {
	scenario = {},
	log = {
		executed = Json.array(),
		applied = Json.array(),
		write_access = Json.array(),
		messages = Json.array(),
		confirms = Json.array(),
		error_dialogs = Json.array(),
		open_panels = Json.array(),
		modal_dialogs = Json.array(),
		progress = Json.array(),
		logger = Json.array(),
		deleted = Json.array(),
		task_errors = Json.array(),
	},
	children = {}, -- every path LrPathUtils.child made, newest last
	inWriteAccess = false,
}

function FakeState.record(list, entry)
	local t = FakeState.log[list]
	t[#t + 1] = entry
end

--- Pop the next queued answer of the scenario (or the default).
function FakeState.next(key, default)
	local queue = FakeState.scenario[key]
	if type(queue) ~= "table" or #queue == 0 then return default end
	return table.remove(queue, 1)
end

function FakeState.posixQuote(s)
	return "'" .. s:gsub("'", "'\\''") .. "'"
end

return FakeState
