-- Fake LrTasks: tasks run at once; execute runs the line through /bin/sh ("real") or
-- returns what the scenario says ("fake").
local FakeState = require "FakeState"

local LrTasks = {}

function LrTasks.startAsyncTask(fn, name)
	local co = coroutine.create(fn)
	local ok, err = coroutine.resume(co)
	if not ok then FakeState.record("task_errors", tostring(err)) end
end

LrTasks.pcall = pcall

function LrTasks.yield() end

function LrTasks.sleep(_) end

function LrTasks.canYield() return true end

local function writeFile(path, text)
	local handle = assert(io.open(path, "wb"))
	handle:write(text)
	handle:close()
end

function LrTasks.execute(line)
	FakeState.record("executed", line)
	local spec = FakeState.scenario.execute or { mode = "real" }
	if spec.mode == "real" then
		return os.execute(line)
	end
	-- "fake": write the files a predictor would, found among the paths the plug-in made.
	local function made(name)
		for i = #FakeState.children, 1, -1 do
			local path = FakeState.children[i]
			if path:sub(-#name) == name then return path end
		end
	end
	if spec.predictions then writeFile(made("predictions.jsonl"), spec.predictions) end
	if spec.stderr then writeFile(made("predict-stderr.txt"), spec.stderr) end
	if spec.stdout then writeFile(made("predict-stdout.txt"), spec.stdout) end
	return spec.status or 0
end

return LrTasks
