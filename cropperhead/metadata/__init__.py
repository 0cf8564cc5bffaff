"""Readers (and writers) of the places a crop lives: XMP, catalogs, darktable sidecars."""
