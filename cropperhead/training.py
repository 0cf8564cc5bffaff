"""``train(cfg)``: compose, instantiate, fit, test; returns the metrics (sweeps use them).

``python train.py`` calls this through Hydra; tests call it with a composed config.
"""

from __future__ import annotations

import logging
import netrc
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import hydra
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf, open_dict

import cropperhead.config  # noqa: F401  (registers the resolvers conf/ uses)
from cropperhead import files
from cropperhead.errors import exit_with_error, one_line
from cropperhead.run_summary import RUN_SUMMARY, write_run_summary

log = logging.getLogger(__name__)


class _NoAdvertisement(logging.Filter):
    """Drops Lightning's "try installing litlogger" tip, printed at every Trainer start."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in str(record.msg)


logging.getLogger("pytorch_lightning.utilities.rank_zero").addFilter(_NoAdvertisement())


class TrainingError(RuntimeError):
    """A user-facing problem with a training run (printed as one line by train.py)."""


def wandb_logged_in() -> bool:
    """True when W&B has an API key (environment or netrc) for its server."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname or ""
    try:
        path = os.environ.get("NETRC") or None
        return netrc.netrc(path).authenticators(host) is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def _wandb_settings(node: DictConfig) -> None:
    """Offline unless the user is logged in (or chose a mode); one line on how to sync."""
    mode = os.environ.get("WANDB_MODE", "").lower()
    offline = mode in ("offline", "dryrun", "disabled") or (not mode and not wandb_logged_in())
    with open_dict(node):
        node.offline = bool(node.get("offline", False) or offline)
        if node.offline:
            node.log_model = False
    if node.offline and mode not in ("disabled",):
        save_dir = node.get("save_dir", ".")
        log.warning(
            "W&B: not logged in, logging offline to %s/wandb; upload later with "
            "`wandb sync %s/wandb/offline-run-*` after `wandb login`",
            save_dir,
            save_dir,
        )


def instantiate_list(node: DictConfig | None) -> list[Any]:
    """Instantiate every ``_target_`` child of a config node (callbacks, loggers)."""
    objects: list[Any] = []
    if not node:
        return objects
    for _, child in node.items():
        if isinstance(child, DictConfig) and "_target_" in child:
            if child._target_.endswith("WandbLogger"):
                _wandb_settings(child)
            objects.append(hydra.utils.instantiate(child))
    return objects


#: What a run folder holds (Hydra's, Lightning's and ours), besides our marker.
RUN_FOLDER_ENTRIES = frozenset(
    {".hydra", "checkpoints", "val_pictures", RUN_SUMMARY, "csv", "tensorboard", "wandb"}
)
_RUN_KIND = "run"


def prepare_run_folder(folder: Path) -> None:
    """Create (or reuse) a run's output folder, refusing one that holds the user's files.

    A folder is reused when it carries our marker, or when it holds nothing but what
    Hydra, Lightning and training write (a run folder of an earlier version, or the one
    Hydra has just made): :data:`RUN_FOLDER_ENTRIES` and log files. Anything else means
    ``paths.output_dir`` names a folder of the user's, which training would write into.

    Raises:
        TrainingError: the folder is not ours (one line that names it).
    """
    if folder.exists() and not files.is_marked(folder, _RUN_KIND):
        if not folder.is_dir():
            raise TrainingError(f"paths.output_dir={folder} exists and is not a folder")
        foreign = sorted(
            entry.name
            for entry in folder.iterdir()
            if entry.name not in RUN_FOLDER_ENTRIES and not entry.name.endswith(".log")
        )
        if foreign:
            raise TrainingError(
                f"paths.output_dir={folder} holds files that are not a training run's "
                f"({', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}); "
                "give a new or empty folder"
            )
    folder.mkdir(parents=True, exist_ok=True)
    if not files.is_marked(folder, _RUN_KIND):
        files.mark_folder(folder, _RUN_KIND)


def train(cfg: DictConfig) -> tuple[dict[str, float], dict[str, Any]]:
    """Fit (and test) the crop model described by ``cfg``.

    Args:
        cfg: the composed conf/train.yaml.

    Returns:
        ``(metrics, objects)``: every logged metric as a float, and the instantiated
        datamodule, model, trainer, callbacks and loggers.
    """
    if cfg.get("seed") is not None:
        pl.seed_everything(cfg.seed, workers=True)
    torch.set_float32_matmul_precision(cfg.get("float32_matmul_precision", "high"))
    prepare_run_folder(Path(cfg.paths.output_dir))

    datamodule: pl.LightningDataModule = hydra.utils.instantiate(cfg.data)
    model: pl.LightningModule = hydra.utils.instantiate(cfg.model)
    callbacks = instantiate_list(cfg.get("callbacks"))
    loggers = instantiate_list(cfg.get("logger"))
    if not loggers:
        # Nothing to send learning rates to (logger=null): Lightning would refuse the run.
        callbacks = [c for c in callbacks if not isinstance(c, pl.callbacks.LearningRateMonitor)]
    trainer: pl.Trainer = hydra.utils.instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers or False
    )

    config = {
        key: OmegaConf.to_container(cfg[key], resolve=True)
        if OmegaConf.is_config(cfg[key])
        else cfg[key]
        for key in cfg
        if key != "hydra"
    }
    for logger in loggers:
        logger.log_hyperparams(config)

    objects = {
        "cfg": cfg,
        "datamodule": datamodule,
        "model": model,
        "trainer": trainer,
        "callbacks": callbacks,
        "loggers": loggers,
    }
    try:
        if cfg.get("train", True):
            trainer.fit(model=model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        checkpoint = trainer.checkpoint_callback
        best_score = getattr(checkpoint, "best_model_score", None)
        if best_score is not None and checkpoint.monitor:
            # The best epoch's value, not the last one's: what a sweep should compare.
            metrics[f"{checkpoint.monitor}_best"] = float(best_score)
        if cfg.get("test", False) and not holds_out_test(datamodule):
            # data=library trains on what a test split would hold back; the verdict is
            # then the validation split's, which training never learns from.
            log.info("no test split (data.test_fraction=0): the final verdict is on validation")
        elif cfg.get("test", False):
            best = getattr(trainer.checkpoint_callback, "best_model_path", "") or None
            if best is None and cfg.get("train", True):
                log.warning("no best checkpoint was saved; testing the current weights")
            trainer.test(model=model, datamodule=datamodule, ckpt_path=best or None)
            metrics.update({k: float(v) for k, v in trainer.callback_metrics.items()})
    except BaseException as exc:
        write_run_summary(cfg.paths.output_dir, trainer, {}, error=exc)
        raise
    finally:
        for logger in loggers:
            if type(logger).__name__ == "WandbLogger":
                import wandb

                wandb.finish()
    write_run_summary(cfg.paths.output_dir, trainer, metrics)
    return metrics, objects


def holds_out_test(datamodule: Any) -> bool:
    """Whether the data module keeps a test split (a module without fractions: assume so)."""
    fraction = getattr(datamodule, "test_fraction", None)
    return fraction is None or float(fraction) > 0


def summary_line(metrics: dict[str, float], stage: str = "val") -> str:
    """One line comparing the model with the two baselines."""
    keys = (f"{stage}/iou", f"{stage}/iou_usual_crop", f"{stage}/iou_full_frame")
    if not all(k in metrics for k in keys):
        return ""
    model, usual, full = (metrics[k] for k in keys)
    verdict = "beats" if model > usual else "does not beat"
    angle = metrics.get(f"{stage}/angle_mae", float("nan"))
    return (
        f"{stage} IoU {model:.3f}: {verdict} your usual crop ({usual:.3f}); "
        f"no crop scores {full:.3f}. Angle error {angle:.2f} deg."
    )


def run_training(cfg: DictConfig) -> float | None:
    """``train.py``'s body: train, print the verdict, return ``cfg.optimized_metric``.

    The metric's best value over the run when the checkpoint callback monitors it (the
    score of the checkpoint a sweep would keep), else its last value.

    User mistakes (no data set, weights required but missing, a bad option value) end
    the process with a one-line message and exit status 2, no traceback.
    """
    from hydra.errors import InstantiationException
    from pytorch_lightning.utilities.exceptions import MisconfigurationException

    from cropperhead.data.manifest import DatasetError
    from cropperhead.model.backbones import PretrainedWeightsUnavailable

    user_errors = (
        DatasetError,
        PretrainedWeightsUnavailable,
        TrainingError,
        ValueError,
        MisconfigurationException,  # Lightning's: trainer=gpu without a GPU, ...
    )
    try:
        metrics, _ = train(cfg)
    except (*user_errors, InstantiationException) as exc:
        # Hydra wraps what a constructor raises (a DataModule without its data set).
        cause = exc.__cause__ if isinstance(exc, InstantiationException) else exc
        if not isinstance(cause, user_errors):
            raise
        message = one_line(str(cause))
        if isinstance(cause, MisconfigurationException) and "gpu" in message.lower():
            message += (
                " (torch sees no CUDA GPU here: train with trainer=cpu, or check the driver "
                "with `python -c 'import torch; print(torch.cuda.is_available())'`)"
            )
        exit_with_error(message)
    line = summary_line(metrics, "test") or summary_line(metrics, "val")
    if line:
        log.info(line)
    name = cfg.get("optimized_metric")
    if not name:
        return None
    if f"{name}_best" in metrics:
        return metrics[f"{name}_best"]
    if name not in metrics:
        log.warning("optimized_metric %r was not logged; have %s", name, sorted(metrics))
        return None
    return metrics[name]
