"""``metrics.json``: what a training run says about itself when it ends.

Training writes it into the run's output folder (:func:`write_run_summary`) whether the
run finished or failed; ``cropperhead runs`` (:mod:`cropperhead.runs`) reads it to tell
finished, failed and unfinished jobs apart.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from cropperhead import files

#: Written by training into each run's output folder when it ends.
RUN_SUMMARY = "metrics.json"


def write_run_summary(
    output_dir: str | Path,
    trainer: Any,
    metrics: dict[str, float],
    error: BaseException | None = None,
) -> Path | None:
    """Write ``output_dir/metrics.json`` at the end of a run (global rank 0 only).

    Args:
        output_dir: the run's ``paths.output_dir``.
        trainer: the run's ``pl.Trainer`` (checkpoint paths, epochs, rank).
        metrics: every logged metric as a float.
        error: the exception that ended the run, if it failed.

    Returns:
        The file written, or None on other ranks.
    """
    if not getattr(trainer, "is_global_zero", True):
        return None
    ckpt = getattr(trainer, "checkpoint_callback", None)
    score = getattr(ckpt, "best_model_score", None)
    summary = {
        "status": "failed" if error is not None else "finished",
        "error": f"{type(error).__name__}: {error}" if error is not None else None,
        "monitor": getattr(ckpt, "monitor", None),
        "best_model_score": float(score) if score is not None else None,
        "best_model_path": getattr(ckpt, "best_model_path", "") or None,
        "last_model_path": getattr(ckpt, "last_model_path", "") or None,
        "epochs": int(getattr(trainer, "current_epoch", 0)),
        "global_step": int(getattr(trainer, "global_step", 0)),
        "metrics": {k: float(v) for k, v in metrics.items()},
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    path = Path(output_dir) / RUN_SUMMARY
    path.parent.mkdir(parents=True, exist_ok=True)
    files.atomic_write(path, json.dumps(summary, indent=1, allow_nan=True) + "\n")
    return path
