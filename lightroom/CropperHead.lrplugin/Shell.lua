--[[ Shell.lua
The command line that LrTasks.execute runs: the predictor, its key=value options, and
redirections that keep its output and error messages in files.

LrTasks.execute hands the line to the shell: /bin/sh on macOS, cmd.exe /c on Windows.
- macOS: every word is single-quoted ('...', a ' inside becomes '\''), which keeps
  spaces, quotes, $, `, *, & and the rest as they are.
- Windows: every word is double-quoted for the program's argument parser (a run of
  backslashes before the closing quote is doubled), and the whole line gets one more
  pair of quotes, because cmd.exe /c strips the first and the last quote of the line.
  Inside quotes cmd.exe leaves & | < > ^ alone; a " cannot be quoted at all (no Windows
  file name holds one), so a word with a " is refused with a message. cmd.exe still
  expands %NAME% where NAME is an environment variable.
- Option values that are paths (checkpoint, input list, output, orientations) are also
  quoted for Hydra, which parses predict's key=value options: '...' with \' for a quote
  and doubled backslashes before a quote, and ${ escaped as \${ so that OmegaConf does
  not take a path for an interpolation.
The line first changes to the plug-in's work folder (Hydra writes its run folder under
the current one, and Lightroom's own may not be writable), then runs the predictor
with stdout and stderr redirected to files there.
]]

local Shell = {}

--- Split text into words at white space; '...' and "..." group (no backslash escapes, so
-- Windows paths stay intact). keepQuotes keeps the quote characters in the words
-- (for predict options, where quotes are Hydra syntax). Returns words, or nil and a message.
function Shell.splitWords(text, keepQuotes)
	local words, current, quote, inWord = {}, {}, nil, false
	for i = 1, #(text or "") do
		local c = text:sub(i, i)
		if quote then
			if c == quote then
				quote = nil
				if keepQuotes then current[#current + 1] = c end
			else
				current[#current + 1] = c
			end
		elseif c == "'" or c == '"' then
			quote, inWord = c, true
			if keepQuotes then current[#current + 1] = c end
		elseif c:match("%s") then
			if inWord then
				words[#words + 1] = table.concat(current)
				current, inWord = {}, false
			end
		else
			current[#current + 1] = c
			inWord = true
		end
	end
	if quote then return nil, "unbalanced " .. quote .. " in: " .. text end
	if inWord then words[#words + 1] = table.concat(current) end
	return words
end

--- One word for /bin/sh.
function Shell.quotePosix(word)
	return "'" .. word:gsub("'", "'\\''") .. "'"
end

--- One word for a Windows program's argument parser (through cmd.exe); nil and a message
-- for a word that cannot be passed.
function Shell.quoteWindows(word)
	if word:find('"', 1, true) then
		return nil, 'a " cannot be passed on a Windows command line (use \' for Hydra quotes): ' .. word
	end
	if word:find("[\r\n]") then return nil, "a line break cannot be passed on a command line" end
	return '"' .. word:gsub("(\\+)$", "%1%1") .. '"'
end

--- A value for a Hydra key=value option, quoted so that any path survives.
function Shell.hydraValue(value)
	-- A plain absolute Unix path needs no quotes (and the logged line stays readable).
	if value:match("^/[%w/%._%-]*$") then return value end
	local escaped = value:gsub("(\\*)%${", function(backslashes)
		return backslashes .. backslashes .. "\\${"
	end)
	escaped = escaped:gsub("(\\*)'", function(backslashes)
		return backslashes .. backslashes .. "\\'"
	end)
	escaped = escaped:gsub("(\\+)$", "%1%1")
	return "'" .. escaped .. "'"
end

--- predict options the plug-in sets itself; extra options may not set them.
Shell.RESERVED = {
	ckpt_path = true,
	input = true,
	input_list = true,
	output = true,
	format = true,
	orientations = true,
	progress = true,
}

--- The extra options as words, or nil and a message naming a reserved key.
function Shell.extraOptions(text)
	local words, err = Shell.splitWords(text or "", true)
	if not words then return nil, "extra options: " .. err end
	for _, word in ipairs(words) do
		local key = word:match("^[+~]*([^=]+)=") or word:match("^[+~]*(.+)$")
		if Shell.RESERVED[key] then
			return nil, "extra options: " .. key .. "= is set by the plug-in itself; remove \"" .. word .. "\""
		end
	end
	return words
end

--- The command line for LrTasks.execute, or nil and a message.
-- spec: windows (boolean), command (the user's text, e.g. "cropperhead predict"),
-- workDir, checkpoint, inputList, output, orientations (or nil), extraOptions (text),
-- stdout, stderr (files for the redirections).
function Shell.predictCommand(spec)
	local command, err = Shell.splitWords(spec.command or "", false)
	if not command then return nil, "command: " .. err end
	if #command == 0 then return nil, "no command to run the predictor is set" end
	local extra
	extra, err = Shell.extraOptions(spec.extraOptions)
	if not extra then return nil, err end

	local args = {}
	for _, word in ipairs(command) do args[#args + 1] = word end
	for _, word in ipairs(extra) do args[#args + 1] = word end
	args[#args + 1] = "ckpt_path=" .. Shell.hydraValue(spec.checkpoint)
	args[#args + 1] = "input_list=" .. Shell.hydraValue(spec.inputList)
	if spec.orientations then
		args[#args + 1] = "orientations=" .. Shell.hydraValue(spec.orientations)
	end
	args[#args + 1] = "output=" .. Shell.hydraValue(spec.output)
	args[#args + 1] = "format=jsonl"
	args[#args + 1] = "progress=false"

	local quote = spec.windows and Shell.quoteWindows or Shell.quotePosix
	local quoted = {}
	for i, word in ipairs(args) do
		local q, problem = quote(word)
		if not q then return nil, problem end
		quoted[i] = q
	end
	local function file(path)
		local q, problem = quote(path)
		if not q then error(problem, 0) end
		return q
	end
	local ok, line = pcall(function()
		local cd = spec.windows and ("cd /d " .. file(spec.workDir)) or ("cd " .. file(spec.workDir))
		return cd .. " && " .. table.concat(quoted, " ")
			.. " >" .. file(spec.stdout) .. " 2>" .. file(spec.stderr)
	end)
	if not ok then return nil, line end
	if spec.windows then line = '"' .. line .. '"' end
	return line
end

--- The exit status LrTasks.execute returned, as the program's exit code. On macOS the
-- value may be the raw wait status of system() (exit code * 256): both are taken.
function Shell.exitCode(status, windows)
	if type(status) ~= "number" then return nil end
	if not windows and status >= 256 and status % 256 == 0 then return status / 256 end
	return status
end

--- True when the exit code says that the shell found no such program.
function Shell.notFound(code, windows, stderrText)
	if windows then
		return code == 9009 or (code == 1 and (stderrText or ""):find("is not recognized", 1, true) ~= nil)
	end
	return code == 127 or code == 126
end

return Shell
