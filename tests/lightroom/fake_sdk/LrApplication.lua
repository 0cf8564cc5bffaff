-- Fake LrApplication: a catalog of the scenario's photos.
local FakeState = require "FakeState"

local LrApplication = {}

local Photo = {}
Photo.__index = Photo

function Photo:getRawMetadata(key)
	if key == "path" then return self.spec.path end
	if key == "fileFormat" then return self.spec.fileFormat or "JPG" end
	if key == "isVirtualCopy" then return self.spec.copyName ~= nil end
	return self.spec.raw and self.spec.raw[key]
end

function Photo:getFormattedMetadata(key)
	if key == "copyName" then return self.spec.copyName end
	if key == "fileName" then return self.spec.path:match("([^/\\]+)$") end
	return nil
end

function Photo:getDevelopSettings()
	local copy = {}
	for k, v in pairs(self.develop) do copy[k] = v end
	return copy
end

function Photo:applyDevelopSettings(settings, historyName)
	if not FakeState.inWriteAccess then
		error("LrPhoto:applyDevelopSettings must be called inside catalog:withWriteAccessDo", 0)
	end
	if self.spec.apply_error then error(self.spec.apply_error, 0) end
	local given = {}
	for k, v in pairs(settings) do
		given[k] = v
		self.develop[k] = v
	end
	FakeState.record("applied", { index = self.index, path = self.spec.path, settings = given, history = historyName })
end

local Catalog = {}
Catalog.__index = Catalog

function Catalog:getAllPhotos()
	local all = {}
	for i, p in ipairs(self.photos) do all[i] = p end
	return all
end

function Catalog:getTargetPhotos()
	local selected = FakeState.scenario.selected
	if type(selected) ~= "table" or #selected == 0 then return self:getAllPhotos() end
	local out = {}
	for _, i in ipairs(selected) do out[#out + 1] = self.photos[i + 1] end
	return out
end

function Catalog:getTargetPhoto()
	local selected = FakeState.scenario.selected
	if type(selected) ~= "table" or #selected == 0 then return nil end
	return self.photos[selected[1] + 1]
end

function Catalog:withWriteAccessDo(name, fn, params)
	FakeState.record("write_access", { name = name, timeout = params and params.timeout })
	if FakeState.scenario.write_access_error then error(FakeState.scenario.write_access_error, 0) end
	if FakeState.inWriteAccess then error("nested withWriteAccessDo", 0) end
	FakeState.inWriteAccess = true
	local ok, err = pcall(fn, {})
	FakeState.inWriteAccess = false
	if not ok then error(err, 0) end
	return "executed"
end

local catalog

function LrApplication.activeCatalog()
	if not catalog then
		catalog = setmetatable({ photos = {} }, Catalog)
		for i, spec in ipairs(FakeState.scenario.photos or {}) do
			local develop = {}
			for k, v in pairs(spec.develop or {}) do develop[k] = v end
			catalog.photos[i] = setmetatable({ spec = spec, develop = develop, index = i - 1 }, Photo)
		end
	end
	return catalog
end

return LrApplication
