-- Fake LrBinding: property tables are plain tables.
local LrBinding = {}

function LrBinding.makePropertyTable(_) return {} end

return LrBinding
