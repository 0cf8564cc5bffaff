--[[ Report.lua
What a run did, for the closing dialog: the photos that got a crop and, for every other
photo, why not.
]]

local Report = {}
Report.__index = Report

--- Skip reasons, in the order the dialog lists them.
Report.REASONS = {
	{ code = "already-cropped", text = "already cropped (tick \"Replace existing crops\" to replace)" },
	{ code = "left-uncropped", text = "left uncropped (the model thinks you would not crop them)" },
	{ code = "not-in-predictions", text = "not in the predictions" },
	{ code = "orientation-changed", text = "turned or flipped differently from the suggestion" },
	{ code = "no-lightroom-values", text = "suggestion without Lightroom values" },
	{ code = "bad-suggestion", text = "suggestion that is not a valid crop" },
	{ code = "missing-file", text = "photo file missing on disk" },
	{ code = "video", text = "video (not cropped)" },
	{ code = "failed", text = "failed" },
	{ code = "cancelled", text = "not done (cancelled)" },
}

local TEXT = {}
for _, reason in ipairs(Report.REASONS) do TEXT[reason.code] = reason.text end

--- Detail lines listed at most.
Report.MAX_DETAILS = 25

function Report.new()
	return setmetatable({ applied = {}, skipped = {}, notes = {} }, Report)
end

--- A photo that got its crop.
function Report:apply(item)
	self.applied[#self.applied + 1] = item.name
end

--- A photo left alone: code is one of Report.REASONS, detail says more (may be nil).
function Report:skip(item, code, detail)
	if not TEXT[code] then error("Report: unknown reason " .. tostring(code)) end
	item.skipped = code
	self.skipped[#self.skipped + 1] = { name = item.name, code = code, detail = detail }
end

--- A line shown under the counts (e.g. unreadable lines of a predictions file).
function Report:note(text)
	self.notes[#self.notes + 1] = text
end

--- Number of photos skipped for a reason (all reasons when code is nil).
function Report:count(code)
	local n = 0
	for _, s in ipairs(self.skipped) do
		if code == nil or s.code == code then n = n + 1 end
	end
	return n
end

local function plural(n, one, many)
	return string.format("%d %s", n, n == 1 and one or many)
end

--- The dialog text.
function Report:text(historyName)
	local lines = {}
	local applied = #self.applied
	if applied > 0 then
		lines[#lines + 1] = string.format("Applied %s (history step \"%s\").",
			plural(applied, "crop", "crops"), historyName)
	else
		lines[#lines + 1] = "Applied no crops."
	end
	local skipped = #self.skipped
	if skipped > 0 then
		lines[#lines + 1] = string.format("Skipped %s:", plural(skipped, "photo", "photos"))
		for _, reason in ipairs(Report.REASONS) do
			local n = self:count(reason.code)
			if n > 0 then lines[#lines + 1] = string.format("  %s: %d", reason.text, n) end
		end
	end
	for _, note in ipairs(self.notes) do lines[#lines + 1] = note end
	if skipped > 0 then
		lines[#lines + 1] = ""
		for i, s in ipairs(self.skipped) do
			if i > Report.MAX_DETAILS then
				lines[#lines + 1] = string.format("  ... and %d more", skipped - Report.MAX_DETAILS)
				break
			end
			lines[#lines + 1] = string.format("  %s: %s%s", s.name, TEXT[s.code],
				s.detail and (" - " .. s.detail) or "")
		end
	end
	return table.concat(lines, "\n")
end

return Report
