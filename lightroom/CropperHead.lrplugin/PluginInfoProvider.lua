--[[ PluginInfoProvider.lua
The plug-in's section in File > Plug-in Manager: how to run the predictor, the
checkpoint, extra options and "Replace existing crops" (stored with LrPrefs).
]]

local LrDialogs = import "LrDialogs"
local LrView = import "LrView"

local Prefs = require "Prefs"

local HELP = "The command runs CropperHead's predictor with predict.py's key=value options, e.g.\n"
	.. "cropperhead predict, or /usr/bin/python3 /path/to/predict.py. Lightroom does not see your\n"
	.. "shell's PATH: give full paths, and quote a path with spaces (\"...\").\n"
	.. "Extra options are passed as they are, e.g. aspect=original device=cpu."

local function sectionsForTopOfDialog(f, _)
	local prefs = Prefs.get()
	local bind = LrView.bind
	local share = LrView.share
	local function label(title)
		return f:static_text { title = title, alignment = "right", width = share "cropperhead_label" }
	end
	return {
		{
			title = "CropperHead",
			f:column {
				bind_to_object = prefs,
				spacing = f:control_spacing(),
				f:row {
					label "Command:",
					f:edit_field { value = bind "command", width_in_chars = 50 },
				},
				f:row {
					label "Checkpoint:",
					f:edit_field { value = bind "checkpoint", width_in_chars = 40 },
					f:push_button {
						title = "Choose...",
						action = function()
							local chosen = LrDialogs.runOpenPanel {
								title = "Choose a CropperHead checkpoint or exported model",
								canChooseFiles = true,
								canChooseDirectories = false,
								allowsMultipleSelection = false,
							}
							if chosen and chosen[1] then prefs.checkpoint = chosen[1] end
						end,
					},
				},
				f:row {
					label "Extra options:",
					f:edit_field { value = bind "extraOptions", width_in_chars = 50 },
				},
				f:row {
					label "",
					f:checkbox { title = "Replace existing crops", value = bind "replaceExisting" },
				},
				f:static_text { title = HELP },
			},
		},
	}
end

return {
	sectionsForTopOfDialog = sectionsForTopOfDialog,
}
