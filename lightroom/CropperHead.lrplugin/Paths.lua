--[[ Paths.lua
Comparing photo paths, and path maps OLD=NEW for predictions made on another machine.

The rule is cropperhead/scan/relocate.py's:
- "\" counts as "/", a trailing "/" is ignored;
- OLD matches a path equal to it or starting with OLD followed by "/" (whole folder
  names only, so D:/Photos does not match D:/Photos2/...);
- a Windows drive path (C:/...) matches whatever the case (Windows ignores case);
- the longest matching OLD wins; the first "=" splits OLD from NEW; NEW may start
  with "~" (the user's home folder).
Two paths name the same photo when they are equal after that normalisation (repeated
slashes collapsed too), compared case-insensitively when both are Windows drive or UNC
paths.
]]

local Paths = {}

--- "\" -> "/", repeated "/" collapsed (a leading "//" of a UNC path kept), trailing "/" dropped.
function Paths.normalize(path)
	local p = path:gsub("\\", "/")
	local lead = ""
	if p:sub(1, 2) == "//" and p:sub(3, 3) ~= "/" then
		lead, p = "/", p:sub(2)
	end
	p = p:gsub("//+", "/")
	local trimmed = p:gsub("/+$", "")
	if trimmed ~= "" then p = trimmed end
	return lead .. p
end

local function isDrive(normalized)
	return normalized:match("^%a:/") ~= nil or normalized:match("^%a:$") ~= nil
end

--- True for C:\..., C:/... and \\server\share paths.
function Paths.isWindows(path)
	return isDrive(path:gsub("\\", "/")) or path:sub(1, 2) == "\\\\"
end

--- The key two paths are compared by.
function Paths.key(path)
	local p = Paths.normalize(path)
	if isDrive(p) or p:sub(1, 2) == "//" then
		return p:lower()
	end
	return p
end

--- True when a and b name the same file.
function Paths.same(a, b)
	return Paths.key(a) == Paths.key(b)
end

--- The file name: the part after the last "/" or "\".
function Paths.leafName(path)
	return (path:gsub("[/\\]+$", ""):match("([^/\\]+)$")) or path
end

-- relocate.py's _normal: slashes as "/", trailing ones dropped unless nothing is left.
local function relocateNormal(path)
	local p = path:gsub("\\", "/")
	local trimmed = p:gsub("/+$", "")
	if trimmed ~= "" then return trimmed end
	return p
end

local function trim(s)
	return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end

--- Parse path maps, one OLD=NEW per line (blank lines ignored).
-- home: the user's home folder, for a NEW that starts with "~".
-- Returns the list of maps, or nil and a one-line message.
function Paths.parseMaps(text, home)
	local maps = {}
	local number = 0
	for line in ((text or "") .. "\n"):gmatch("([^\n]*)\n") do
		number = number + 1
		line = trim(line:gsub("\r$", ""))
		if line ~= "" then
			local eq = line:find("=", 1, true)
			local old = eq and trim(line:sub(1, eq - 1)) or ""
			local new = eq and trim(line:sub(eq + 1)) or ""
			if old == "" or new == "" then
				return nil, string.format(
					"path map line %d: expected OLD=NEW (the folder as the predictions name it, "
						.. "then where it is here), got %q", number, line)
			end
			if home and (new == "~" or new:match("^~[/\\]")) then
				local sep = home:find("\\", 1, true) and "\\" or "/"
				new = home:gsub("[/\\]+$", "") .. (new == "~" and "" or sep .. new:sub(3))
			end
			maps[#maps + 1] = { old = old, new = new }
		end
	end
	return maps
end

--- The path with map.old replaced by map.new, or nil when map.old does not match.
function Paths.applyMap(path, map)
	local p = path:gsub("\\", "/")
	local old = relocateNormal(map.old)
	local head = p:sub(1, #old)
	local same
	if isDrive(old) then same = head:lower() == old:lower() else same = head == old end
	if not same then return nil end
	local rest = p:sub(#old + 1)
	if rest ~= "" and rest:sub(1, 1) ~= "/" and old:sub(-1) ~= "/" then return nil end
	rest = rest:gsub("^/+", "")
	local new = map.new:gsub("[/\\]+$", "")
	if new == "" then new = map.new:sub(1, 1) end -- NEW was "/" itself
	if rest == "" then return new end
	local sep = new:find("\\", 1, true) and "\\" or "/"
	if new:sub(-1) == "/" or new:sub(-1) == "\\" then sep = "" end
	if sep == "\\" then rest = rest:gsub("/", "\\") end
	return new .. sep .. rest
end

--- The path moved by the longest matching map, or nil when none matches.
function Paths.mapped(path, maps)
	local best, bestLength
	for _, map in ipairs(maps or {}) do
		local moved = Paths.applyMap(path, map)
		local length = #relocateNormal(map.old)
		if moved and (not bestLength or length > bestLength) then
			best, bestLength = moved, length
		end
	end
	return best
end

return Paths
