-- Library > Plug-in Extras > Apply suggestions from a file.
require("ApplyFromFile").run()
