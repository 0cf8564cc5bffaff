"""Training data: the scanned manifest as tensors, splits, label-exact augmentations.

Names are imported lazily: reading a manifest (``cropperhead evaluate``, ``stats``)
should not pay for importing Lightning.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "CropDataModule": "cropperhead.data.datamodule",
    "CropDataset": "cropperhead.data.dataset",
    "DatasetError": "cropperhead.data.manifest",
    "Sample": "cropperhead.data.manifest",
    "read_manifest": "cropperhead.data.manifest",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
