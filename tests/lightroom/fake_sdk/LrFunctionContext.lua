-- Fake LrFunctionContext: cleanup handlers run after the function; an error goes to
-- the error dialog when one is attached, else it is raised again.
local FakeState = require "FakeState"

local LrFunctionContext = {}

local Context = {}
Context.__index = Context

function Context:addCleanupHandler(fn) self.cleanup[#self.cleanup + 1] = fn end

function Context:addFailureHandler(fn) self.failure[#self.failure + 1] = fn end

function LrFunctionContext.callWithContext(name, fn, ...)
	local context = setmetatable({ name = name, cleanup = {}, failure = {} }, Context)
	local ok, err = pcall(fn, context, ...)
	for _, handler in ipairs(context.cleanup) do handler(ok, err) end
	if not ok then
		for _, handler in ipairs(context.failure) do handler(false, err) end
		if context.errorDialog then
			FakeState.record("error_dialogs", tostring(err))
		else
			error(err, 0)
		end
	end
end

function LrFunctionContext.postAsyncTaskWithContext(name, fn)
	local LrTasks = require "LrTasks"
	LrTasks.startAsyncTask(function() LrFunctionContext.callWithContext(name, fn) end)
end

return LrFunctionContext
