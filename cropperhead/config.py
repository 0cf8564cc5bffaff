"""What conf/ calls into: its OmegaConf resolvers and the Optuna sweeper's storage switch.

The resolvers (``${cropperhead_cache:}``, ``${cropperhead_gpu_precision:}``,
``${cropperhead_cpu_precision:}``) are
registered on import of this module (cropperhead.training imports it);
:func:`optuna_storage` is the ``_target_`` of conf/hparams_search/optuna.yaml's
``hydra.sweeper.storage``.
"""

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


def cpu_precision() -> str:
    """``bf16-mixed`` on CPUs with AMX tile units (Intel Sapphire Rapids on), else ``32-true``.

    AMX multiplies bf16 matrices in hardware, and oneDNN runs convolutions on it, so
    autocast to bf16 trains faster there (benchmarks/README.md, "Mixed precision on the
    CPU"). Without AMX bf16 has no such path and may well be slower than fp32 (not
    measured: no such CPU here), so full precision is kept.
    """
    import torch

    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
    try:
        return "bf16-mixed" if amx is not None and amx() else "32-true"
    except RuntimeError:  # a torch built without the CPU feature probe
        return "32-true"


def optuna_storage(url: str | None, sweep_dir: str) -> str | None:
    """The Optuna sweeper's storage: None (in memory), ``sweep`` or a database URL.

    ``sweep`` is a SQLite file ``optuna.db`` in the sweep folder (made here: Hydra makes
    the folder only after the study). To continue a study in a later sweep, give a
    database URL outside the sweep folder and the same ``study_name``.

    Raises:
        ValueError: SQLite storage with optuna 2.x beside SQLAlchemy 2.x, which fails
            inside optuna (``pip install "sqlalchemy<2"``, as the ``sweep`` extra pins).
    """
    if not url:
        return None
    if url == "sweep":
        folder = Path(sweep_dir).expanduser().resolve()
        folder.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{folder / 'optuna.db'}"
    import optuna
    import sqlalchemy

    if int(optuna.__version__.split(".")[0]) < 3 and int(sqlalchemy.__version__[0]) >= 2:
        raise ValueError(
            f"optuna {optuna.__version__} cannot use a database with SQLAlchemy "
            f"{sqlalchemy.__version__}: pip install 'sqlalchemy<2' (pinned by the sweep extra)"
        )
    return url


def register_resolvers() -> None:
    """Register the ``${cropperhead_...:}`` resolvers above (idempotent)."""
    if not OmegaConf.has_resolver("cropperhead_cache"):
        OmegaConf.register_new_resolver("cropperhead_cache", default_cache_dir)
    if not OmegaConf.has_resolver("cropperhead_gpu_precision"):
        OmegaConf.register_new_resolver("cropperhead_gpu_precision", gpu_precision)
    if not OmegaConf.has_resolver("cropperhead_cpu_precision"):
        OmegaConf.register_new_resolver("cropperhead_cpu_precision", cpu_precision)


register_resolvers()
