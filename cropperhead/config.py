"""OmegaConf resolvers used by conf/ (registered on import of cropperhead.training)."""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import OmegaConf


def default_cache_dir() -> str:
    """Where generated data (the demo library) is cached.

    ``$CROPPERHEAD_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/cropperhead``, else
    ``~/.cache/cropperhead``.
    """
    if os.environ.get("CROPPERHEAD_CACHE_DIR"):
        return str(Path(os.environ["CROPPERHEAD_CACHE_DIR"]).expanduser())
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return str(Path(base) / "cropperhead")


def gpu_precision() -> str:
    """``bf16-mixed`` on GPUs that compute in bf16 (compute capability 8.0+), else ``16-mixed``.

    ``16-mixed`` makes Lightning scale the loss (a gradient scaler) against fp16 underflow.
    """
    import torch

    if torch.cuda.is_available() and torch.cuda.get_device_capability() < (8, 0):
        return "16-mixed"
    return "bf16-mixed"


def register_resolvers() -> None:
    """Register ``${cropperhead_cache:}`` and ``${cropperhead_gpu_precision:}`` (idempotent)."""
    if not OmegaConf.has_resolver("cropperhead_cache"):
        OmegaConf.register_new_resolver("cropperhead_cache", default_cache_dir)
    if not OmegaConf.has_resolver("cropperhead_gpu_precision"):
        OmegaConf.register_new_resolver("cropperhead_gpu_precision", gpu_precision)


register_resolvers()
