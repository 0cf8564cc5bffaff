-- Fake LrPrefs: the scenario's prefs table (written back into the log at the end).
local FakeState = require "FakeState"

local LrPrefs = {}

function LrPrefs.prefsForPlugin()
	FakeState.scenario.prefs = FakeState.scenario.prefs or {}
	return FakeState.scenario.prefs
end

return LrPrefs
