-- Fake LrDialogs: records every dialog; answers come from the scenario's queues.
local FakeState = require "FakeState"

local LrDialogs = {}

function LrDialogs.message(title, message, style)
	FakeState.record("messages", { title = title, message = message or "", style = style or "" })
end

function LrDialogs.confirm(message, info, actionVerb, cancelVerb)
	FakeState.record("confirms", { message = message, info = info or "" })
	return FakeState.next("confirm", "ok")
end

function LrDialogs.runOpenPanel(args)
	FakeState.record("open_panels", { title = args.title })
	local answer = FakeState.next("open_panel", nil)
	if answer == nil or answer == false or (type(answer) == "table" and #answer == 0) then return nil end
	return answer
end

function LrDialogs.presentModalDialog(args)
	local answer = FakeState.next("modal", { result = "ok" })
	local props = args.contents and args.contents.args and args.contents.args.bind_to_object
	FakeState.record("modal_dialogs", { title = args.title })
	if props and type(answer.set) == "table" then
		for k, v in pairs(answer.set) do props[k] = v end
	end
	return answer.result
end

function LrDialogs.attachErrorDialogToFunctionContext(context)
	context.errorDialog = true
end

return LrDialogs
