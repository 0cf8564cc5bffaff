--[[ Json.lua
A small JSON decoder and encoder (Lightroom's Lua 5.1 has none).

Json.decode(text) -> value, or nil and a message with the character position.
  Objects become tables with string keys, arrays tables with 1..n (Json.isArray tells
  an empty array from an empty object), null becomes Json.null. Python's json module
  also writes NaN, Infinity and -Infinity: they are accepted.
  Strings: every escape of RFC 8259. \uXXXX becomes UTF-8; a surrogate pair becomes the
  one character it encodes. predict writes a file name that is not UTF-8 with Python's
  surrogateescape, so a raw byte 0x80-0xFF shows up as a lone \udc80-\udcff: it is
  turned back into that byte, which gives the name's original bytes. Any other lone
  surrogate cannot be a real character: it is written as the 3-byte sequence of its
  code point (as Python's "surrogatepass" would), so the name stays distinct and simply
  matches no photo.
Json.encode(value) -> text: tables with a positive integer sequence are arrays,
  others objects (keys sorted, so output is stable). Strings are written as UTF-8
  with the required escapes only.
]]

local Json = {}

Json.null = setmetatable({}, { __tostring = function() return "null" end })

local ARRAY_MARK = setmetatable({}, { __mode = "k" })

local MAX_DEPTH = 200

local function utf8(code)
	if code < 0x80 then
		return string.char(code)
	elseif code < 0x800 then
		return string.char(0xC0 + math.floor(code / 0x40), 0x80 + code % 0x40)
	elseif code < 0x10000 then
		return string.char(0xE0 + math.floor(code / 0x1000),
			0x80 + math.floor(code / 0x40) % 0x40, 0x80 + code % 0x40)
	end
	return string.char(0xF0 + math.floor(code / 0x40000),
		0x80 + math.floor(code / 0x1000) % 0x40,
		0x80 + math.floor(code / 0x40) % 0x40, 0x80 + code % 0x40)
end

local ESCAPES = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }

local function fail(pos, message)
	error({ json = true, message = string.format("%s at character %d", message, pos) }, 0)
end

local Decoder = {}
Decoder.__index = Decoder

function Decoder:skip()
	local _, finish = self.text:find("^[ \t\r\n]*", self.pos)
	self.pos = finish + 1
end

function Decoder:hex4(pos)
	local digits = self.text:sub(pos, pos + 3)
	if not digits:match("^%x%x%x%x$") then fail(pos - 2, "bad \\u escape") end
	return tonumber(digits, 16)
end

function Decoder:string()
	local text, pos = self.text, self.pos + 1
	local parts = {}
	while true do
		local start, finish = text:find('^[^"\\%z\1-\31]+', pos)
		if start then
			parts[#parts + 1] = text:sub(start, finish)
			pos = finish + 1
		end
		local c = text:sub(pos, pos)
		if c == '"' then
			self.pos = pos + 1
			return table.concat(parts)
		elseif c == "\\" then
			local e = text:sub(pos + 1, pos + 1)
			if ESCAPES[e] then
				parts[#parts + 1] = ESCAPES[e]
				pos = pos + 2
			elseif e == "u" then
				local code = self:hex4(pos + 2)
				pos = pos + 6
				if code >= 0xD800 and code <= 0xDBFF and text:sub(pos, pos + 1) == "\\u" then
					local low = self:hex4(pos + 2)
					if low >= 0xDC00 and low <= 0xDFFF then
						code = 0x10000 + (code - 0xD800) * 0x400 + (low - 0xDC00)
						pos = pos + 6
					end
				end
				if code >= 0xDC80 and code <= 0xDCFF then
					parts[#parts + 1] = string.char(code - 0xDC00) -- surrogateescape: the raw byte
				else
					parts[#parts + 1] = utf8(code)
				end
			else
				fail(pos, "bad escape")
			end
		elseif c == "" then
			fail(self.pos, "unterminated string")
		else
			fail(pos, "control character in string")
		end
	end
end

function Decoder:number()
	local text, pos = self.text, self.pos
	if text:sub(pos, pos + 8) == "-Infinity" then
		self.pos = pos + 9
		return -math.huge
	end
	local p = pos
	if text:sub(p, p) == "-" then p = p + 1 end
	local c = text:sub(p, p)
	if c == "0" then
		p = p + 1
		if text:sub(p, p):match("^%d$") then fail(pos, "bad number (leading zero)") end
	elseif c:match("^[1-9]$") then
		local _, finish = text:find("^%d+", p)
		p = finish + 1
	else
		fail(pos, "bad number")
	end
	if text:sub(p, p) == "." then
		local _, finish = text:find("^%d+", p + 1)
		if not finish then fail(pos, "bad number") end
		p = finish + 1
	end
	if text:sub(p, p):match("^[eE]$") then
		local _, finish = text:find("^[-+]?%d+", p + 1)
		if not finish then fail(pos, "bad number") end
		p = finish + 1
	end
	self.pos = p
	return tonumber(text:sub(pos, p - 1))
end

local WORDS = { ["true"] = true, ["false"] = false, ["null"] = Json.null, ["NaN"] = 0 / 0, ["Infinity"] = math.huge }

function Decoder:value(depth)
	if depth > MAX_DEPTH then fail(self.pos, "nested too deeply") end
	self:skip()
	local text, pos = self.text, self.pos
	local c = text:sub(pos, pos)
	if c == "{" then
		local object = {}
		self.pos = pos + 1
		self:skip()
		if text:sub(self.pos, self.pos) == "}" then
			self.pos = self.pos + 1
			return object
		end
		while true do
			self:skip()
			if text:sub(self.pos, self.pos) ~= '"' then fail(self.pos, "expected a key") end
			local key = self:string()
			self:skip()
			if text:sub(self.pos, self.pos) ~= ":" then fail(self.pos, "expected ':'") end
			self.pos = self.pos + 1
			object[key] = self:value(depth + 1)
			self:skip()
			local d = text:sub(self.pos, self.pos)
			self.pos = self.pos + 1
			if d == "}" then return object end
			if d ~= "," then fail(self.pos - 1, "expected ',' or '}'") end
		end
	elseif c == "[" then
		local array = {}
		ARRAY_MARK[array] = true
		self.pos = pos + 1
		self:skip()
		if text:sub(self.pos, self.pos) == "]" then
			self.pos = self.pos + 1
			return array
		end
		while true do
			array[#array + 1] = self:value(depth + 1)
			self:skip()
			local d = text:sub(self.pos, self.pos)
			self.pos = self.pos + 1
			if d == "]" then return array end
			if d ~= "," then fail(self.pos - 1, "expected ',' or ']'") end
		end
	elseif c == '"' then
		return self:string()
	elseif c == "-" or c:match("%d") then
		return self:number()
	end
	for word, result in pairs(WORDS) do
		if text:sub(pos, pos + #word - 1) == word then
			self.pos = pos + #word
			return result
		end
	end
	if c == "" then fail(pos, "unexpected end") end
	fail(pos, "unexpected character '" .. c .. "'")
end

--- Decode one JSON text; returns the value, or nil and a message.
function Json.decode(text)
	if type(text) ~= "string" then return nil, "not a string" end
	local decoder = setmetatable({ text = text, pos = 1 }, Decoder)
	local ok, result = pcall(function()
		local value = decoder:value(1)
		decoder:skip()
		if decoder.pos <= #text then fail(decoder.pos, "unexpected text after the value") end
		return value
	end)
	if ok then return result end
	if type(result) == "table" and result.json then return nil, result.message end
	error(result, 0)
end

--- True for a table the decoder made from a JSON array (empty ones included).
function Json.isArray(value)
	return type(value) == "table" and ARRAY_MARK[value] == true
end

--- Mark a table as an array for encode (needed for an empty one).
function Json.array(t)
	t = t or {}
	ARRAY_MARK[t] = true
	return t
end

local function encodeString(s)
	return '"' .. s:gsub('[%z\1-\31"\\]', function(c)
		if c == '"' then return '\\"' end
		if c == "\\" then return "\\\\" end
		if c == "\n" then return "\\n" end
		if c == "\t" then return "\\t" end
		if c == "\r" then return "\\r" end
		return string.format("\\u%04x", c:byte())
	end) .. '"'
end

local function isSequence(t)
	if ARRAY_MARK[t] then return true end
	local n = 0
	for _ in pairs(t) do n = n + 1 end
	if n == 0 then return false end
	for i = 1, n do
		if t[i] == nil then return false end
	end
	return true
end

local function encodeValue(value, depth, out)
	if depth > MAX_DEPTH then error("Json.encode: nested too deeply", 0) end
	local kind = type(value)
	if value == Json.null or value == nil then
		out[#out + 1] = "null"
	elseif kind == "boolean" then
		out[#out + 1] = value and "true" or "false"
	elseif kind == "number" then
		if value ~= value or value == math.huge or value == -math.huge then
			error("Json.encode: " .. tostring(value) .. " is not a JSON number", 0)
		end
		if value == math.floor(value) and math.abs(value) < 2 ^ 53 then
			out[#out + 1] = string.format("%d", value)
		else
			out[#out + 1] = string.format("%.17g", value)
		end
	elseif kind == "string" then
		out[#out + 1] = encodeString(value)
	elseif kind == "table" then
		if isSequence(value) then
			out[#out + 1] = "["
			for i = 1, #value do
				if i > 1 then out[#out + 1] = "," end
				encodeValue(value[i], depth + 1, out)
			end
			out[#out + 1] = "]"
		else
			local keys = {}
			for k in pairs(value) do
				if type(k) ~= "string" then error("Json.encode: object key " .. tostring(k) .. " is not a string", 0) end
				keys[#keys + 1] = k
			end
			table.sort(keys)
			out[#out + 1] = "{"
			for i, k in ipairs(keys) do
				if i > 1 then out[#out + 1] = "," end
				out[#out + 1] = encodeString(k)
				out[#out + 1] = ":"
				encodeValue(value[k], depth + 1, out)
			end
			out[#out + 1] = "}"
		end
	else
		error("Json.encode: cannot encode a " .. kind, 0)
	end
end

--- Encode a value as JSON text.
function Json.encode(value)
	local out = {}
	encodeValue(value, 1, out)
	return table.concat(out)
end

return Json
