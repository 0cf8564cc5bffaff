--[[ Info.lua
CropperHead for Lightroom Classic: suggests crops learnt from your own library and
applies them in the catalog (a history step per photo; no file is touched).
]]

return {
	LrSdkVersion = 10.0,
	LrSdkMinimumVersion = 6.0,
	LrToolkitIdentifier = "com.cropperhead.lightroom",
	LrPluginName = "CropperHead",

	LrLibraryMenuItems = {
		{
			title = "Suggest crops for the selected photos",
			file = "MenuSuggestCrops.lua",
			enabledWhen = "photosSelected",
		},
		{
			title = "Apply suggestions from a file...",
			file = "MenuApplyFromFile.lua",
		},
	},

	LrPluginInfoProvider = "PluginInfoProvider.lua",

	VERSION = { major = 0, minor = 1, revision = 0, build = 1 },
}
