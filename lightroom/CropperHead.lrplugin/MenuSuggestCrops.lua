-- Library > Plug-in Extras > Suggest crops for the selected photos.
require("SuggestCrops").run()
