-- Fake LrProgressScope: records captions and progress; cancels when the scenario says.
local FakeState = require "FakeState"

local Scope = {}
Scope.__index = Scope

function Scope:setCaption(text) FakeState.record("progress", { caption = text }) end

function Scope:setPortionComplete(done, total) self.portion = { done, total } end

function Scope:isCanceled()
	self.checks = self.checks + 1
	local after = FakeState.scenario.cancel_after
	return after ~= nil and self.checks > after
end

function Scope:done() FakeState.record("progress", { done = true }) end

function Scope:cancel() self.cancelled = true end

return setmetatable({}, {
	__call = function(_, args)
		FakeState.record("progress", { title = args.title, context = args.functionContext ~= nil })
		return setmetatable({ checks = 0 }, Scope)
	end,
})
