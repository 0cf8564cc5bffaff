"""Prediction's user-facing errors (no heavy imports, so the command line can catch them)."""


class ModelLoadError(ValueError):
    """The model file cannot be used (one-line, user-facing message)."""


class PredictError(ValueError):
    """A run that cannot start: bad options, no photos (one-line message)."""


class PredictOutputError(OSError):
    """The predictions cannot be written (a full disk, ...): one-line message."""
