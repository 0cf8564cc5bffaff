"""CropperHead: learn how a photographer crops and straightens, and suggest those crops."""

__version__ = "0.1.0"
