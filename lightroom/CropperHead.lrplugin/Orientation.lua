--[[ Orientation.lua
Lightroom's orientation codes and EXIF orientations: a table lookup, no geometry.

photo:getDevelopSettings().orientation is Lightroom's code for how the photo is shown:
the file's EXIF orientation with whatever turning and flipping the photographer did in
Lightroom. The table is the project's (cropperhead/metadata/lrcat_decode.py,
LIGHTROOM_ORIENTATIONS; tests/lightroom checks that both agree). AB, BC, CD and DA are
documented; the four mirrored codes are derived there and not confirmed on a real
catalog.
]]

local Orientation = {}

Orientation.TO_EXIF = {
	AB = 1,
	BA = 2,
	CD = 3,
	DC = 4,
	AD = 5,
	BC = 6,
	CB = 7,
	DA = 8,
}

--- The EXIF orientation (1-8) of a Lightroom code, or nil for nil or an unknown code.
function Orientation.toExif(code)
	if type(code) ~= "string" then return nil end
	return Orientation.TO_EXIF[code:upper():gsub("%s", "")]
end

--- The photo's current Lightroom code (upper case), or nil when the SDK gives none.
function Orientation.current(developSettings)
	local code = developSettings and developSettings.orientation
	if type(code) ~= "string" or not Orientation.toExif(code) then return nil end
	return (code:upper():gsub("%s", ""))
end

return Orientation
