"""The Hydra configs of ``cropperhead train`` and ``cropperhead predict`` (package data)."""
