--[[ RunPredictor.lua
Run CropperHead's predictor on photo files through LrTasks.execute and bring back the
predictions file, or a message that says what went wrong.

The photos go to the predictor as a file, input_list=photos.json (a JSON array of
paths), not on the command line: cmd.exe takes at most 8191 characters (some 80
photo paths), file names may hold characters that a Windows command line cannot carry
or that cmd.exe would expand (%NAME%), and a UTF-8 file carries every name exactly.
orientations=orientations.json gives, per photo, the EXIF orientation of Lightroom's
view of it, so that the suggestion is made on the picture as Lightroom shows it.

LrTasks.execute returns only the exit status, so the line redirects stdout and stderr
to files in the work folder; predict writes one line to stderr and exits with 2 when
it cannot start (a bad checkpoint, bad options), and that line is what the dialog
shows.
]]

local LrFileUtils = import "LrFileUtils"
local LrPathUtils = import "LrPathUtils"
local LrTasks = import "LrTasks"
local LrLogger = import "LrLogger"

local Json = require "Json"
local Shell = require "Shell"

local logger = LrLogger("CropperHead")
logger:enable("logfile")

local RunPredictor = {}

local function writeFile(path, text)
	local handle, err = io.open(path, "wb")
	if not handle then return nil, err end
	local ok, problem = handle:write(text)
	handle:close()
	if not ok then return nil, problem end
	return true
end

local function readFile(path)
	if LrFileUtils.exists(path) ~= "file" then return "" end
	local ok, text = LrTasks.pcall(LrFileUtils.readFile, path)
	if ok and type(text) == "string" then return text end
	return ""
end

--- Non-empty lines of text, the last `count` of them.
function RunPredictor.lastLines(text, count)
	local lines = {}
	for line in ((text or "") .. "\n"):gmatch("([^\n]*)\n") do
		line = line:gsub("\r$", "")
		if line:match("%S") then lines[#lines + 1] = line end
	end
	local out = {}
	for i = math.max(1, #lines - count + 1), #lines do out[#out + 1] = lines[i] end
	return out
end

--- A new, empty work folder in Lightroom's temporary folder.
function RunPredictor.makeWorkDir()
	local temp = LrPathUtils.getStandardFilePath("temp")
	for _ = 1, 20 do
		local name = string.format("CropperHead-%d-%06d", os.time(), math.random(0, 999999))
		local dir = LrPathUtils.child(temp, name)
		if not LrFileUtils.exists(dir) then
			LrFileUtils.createAllDirectories(dir)
			if LrFileUtils.exists(dir) == "directory" then return dir end
		end
	end
	return nil
end

RunPredictor.FILES = {
	"photos.json", "orientations.json", "predictions.jsonl", "predict-stdout.txt", "predict-stderr.txt",
}

--- Remove a work folder: its own files first, then the folder (with what Hydra left in it).
function RunPredictor.removeWorkDir(dir)
	if not dir then return end
	for _, name in ipairs(RunPredictor.FILES) do
		local path = LrPathUtils.child(dir, name)
		if LrFileUtils.exists(path) then LrFileUtils.delete(path) end
	end
	LrFileUtils.delete(dir)
end

local function failure(message, workDir)
	return { ok = false, message = message, workDir = workDir }
end

--- Run the predictor. spec: paths (unique photo paths), orientations (path -> EXIF code,
-- may be empty), command, checkpoint, extraOptions, windows (boolean).
-- Returns { ok = true, predictions = path, summary = {stdout lines}, workDir = dir } or
-- { ok = false, message = text, workDir = dir or nil }. The caller deletes workDir.
function RunPredictor.run(spec)
	local workDir = RunPredictor.makeWorkDir()
	if not workDir then return failure("Cannot create a work folder in the temporary folder.") end
	local function child(name) return LrPathUtils.child(workDir, name) end
	local files = {
		inputList = child("photos.json"),
		orientations = child("orientations.json"),
		output = child("predictions.jsonl"),
		stdout = child("predict-stdout.txt"),
		stderr = child("predict-stderr.txt"),
	}
	local ok, err = writeFile(files.inputList, Json.encode(Json.array(spec.paths)))
	if not ok then
		RunPredictor.removeWorkDir(workDir)
		return failure("Cannot write " .. files.inputList .. ": " .. tostring(err))
	end
	local hasOrientations = next(spec.orientations or {}) ~= nil
	if hasOrientations then
		ok, err = writeFile(files.orientations, Json.encode(spec.orientations))
		if not ok then
			RunPredictor.removeWorkDir(workDir)
			return failure("Cannot write " .. files.orientations .. ": " .. tostring(err))
		end
	end

	local line
	line, err = Shell.predictCommand {
		windows = spec.windows,
		command = spec.command,
		workDir = workDir,
		checkpoint = spec.checkpoint,
		inputList = files.inputList,
		orientations = hasOrientations and files.orientations or nil,
		output = files.output,
		extraOptions = spec.extraOptions,
		stdout = files.stdout,
		stderr = files.stderr,
	}
	if not line then
		RunPredictor.removeWorkDir(workDir)
		return failure("Cannot build the predictor's command line: " .. err
			.. "\n\nCheck the settings in File > Plug-in Manager > CropperHead.")
	end
	logger:info("running: " .. line)
	local status = LrTasks.execute(line)
	local code = Shell.exitCode(status, spec.windows)
	local stderrText = readFile(files.stderr)
	local stdoutText = readFile(files.stdout)
	logger:info("predictor exit status " .. tostring(status) .. "; stderr: " .. stderrText)

	local errors = RunPredictor.lastLines(stderrText, 5)
	local lastError = errors[#errors] or "(no message)"
	local where = "\n\nIts messages are in " .. files.stderr .. "."
	if code ~= 0 then
		if Shell.notFound(code, spec.windows, stderrText) then
			return failure(string.format(
				"Could not start the predictor: %s\n\nCheck the command in File > Plug-in Manager > "
					.. "CropperHead (now: %s). Lightroom does not see your shell's PATH: give the "
					.. "full path, e.g. /Users/you/miniconda3/bin/cropperhead predict, "
					.. "C:\\Users\\you\\miniconda3\\Scripts\\cropperhead.exe predict, or "
					.. "/usr/bin/python3 /path/to/predict.py.", lastError, spec.command), workDir)
		end
		if code == 2 then
			return failure("The predictor stopped: " .. lastError .. where, workDir)
		end
		return failure(string.format("The predictor failed (exit status %s):\n%s%s",
			tostring(code), table.concat(errors, "\n"), where), workDir)
	end
	if LrFileUtils.exists(files.output) ~= "file" then
		local said = RunPredictor.lastLines(stdoutText .. "\n" .. stderrText, 3)
		return failure("The predictor finished but wrote no predictions. "
			.. table.concat(said, "\n") .. where, workDir)
	end
	return {
		ok = true,
		predictions = files.output,
		summary = RunPredictor.lastLines(stdoutText, 6),
		workDir = workDir,
	}
end

return RunPredictor
