"""Callbacks: validation pictures for the active loggers."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from PIL import Image
from pytorch_lightning.utilities import rank_zero_only

from cropperhead.data.transforms import MEAN, STD
from cropperhead.geometry import Crop, rotated_iou
from cropperhead.viz import PRED_RGB, TARGET_RGB, caption, draw_crop, grid

log = logging.getLogger(__name__)

#: Tiles are drawn at least this wide.
MIN_TILE_PX = 192


def render_validation_grid(examples: dict[str, torch.Tensor], max_images: int = 16) -> Image.Image:
    """Letterboxed validation photos with the photographer's crop (green) and the model's (red).

    Args:
        examples: ``image`` ``[B, 3, S, S]`` (normalised), ``content_box`` ``[B, 4]``,
            ``crop`` and ``pred`` ``[B, 5]``, ``aspect`` ``[B]``.
        max_images: at most this many tiles.

    Returns:
        The grid picture; each tile is captioned with its IoU.
    """
    mean = torch.tensor(MEAN).view(3, 1, 1)
    std = torch.tensor(STD).view(3, 1, 1)
    tiles = []
    for i in range(min(len(examples["image"]), max_images)):
        pixels = ((examples["image"][i].float() * std + mean).clamp(0, 1) * 255).byte()
        tile = Image.fromarray(pixels.permute(1, 2, 0).numpy())
        # Small training inputs (the demo's 64 px) are drawn larger, so the crops show.
        zoom = max(1, math.ceil(MIN_TILE_PX / tile.width))
        if zoom > 1:
            tile = tile.resize((tile.width * zoom, tile.height * zoom), Image.Resampling.BILINEAR)
        box = tuple(zoom * float(v) for v in examples["content_box"][i])
        target = Crop(*examples["crop"][i].tolist())
        pred = Crop(*examples["pred"][i].tolist())
        draw_crop(tile, target, TARGET_RGB, box)
        draw_crop(tile, pred, PRED_RGB, box)
        aspect = float(examples["aspect"][i])
        caption(tile, f"IoU {rotated_iou(target, pred, aspect, 1.0):.2f}")
        tiles.append(tile)
    return grid(tiles)


class ValidationPictures(pl.Callback):
    """Every ``every_n_epochs``, a grid of validation photos with both crops drawn.

    The picture goes to every logger that takes images (W&B, TensorBoard) and, always,
    to ``dirpath/epoch_NNN.png`` (``latest.png`` too), from rank 0 only.

    Args:
        dirpath: folder for the PNG files.
        every_n_epochs: how often.
        max_images: tiles per grid.
    """

    def __init__(self, dirpath: str, every_n_epochs: int = 1, max_images: int = 16) -> None:
        self.dirpath = Path(dirpath)
        self.every_n_epochs = max(int(every_n_epochs), 1)
        self.max_images = max_images

    @rank_zero_only
    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Draw and send the grid."""
        examples = getattr(pl_module, "val_examples", None)
        if trainer.sanity_checking or not examples:
            return
        epoch = trainer.current_epoch
        if epoch % self.every_n_epochs:
            return
        picture = render_validation_grid(examples, self.max_images)
        self.dirpath.mkdir(parents=True, exist_ok=True)
        picture.save(self.dirpath / f"epoch_{epoch:03d}.png")
        picture.save(self.dirpath / "latest.png")
        for logger in trainer.loggers:
            _send(logger, picture, epoch, trainer.global_step)


def _send(logger, picture: Image.Image, epoch: int, step: int) -> None:
    name = type(logger).__name__
    caption_text = "green: your crop, red: suggested"
    if name == "WandbLogger":
        logger.log_image(key="val/pictures", images=[picture], caption=[caption_text], step=step)
    elif name == "TensorBoardLogger":
        logger.experiment.add_image(
            "val/pictures", np.asarray(picture), global_step=step, dataformats="HWC"
        )
    else:
        log_dir = getattr(logger, "log_dir", None)
        if log_dir:
            folder = Path(log_dir) / "val_pictures"
            folder.mkdir(parents=True, exist_ok=True)
            picture.save(folder / f"epoch_{epoch:03d}.png")


class UsualCropCheck(pl.Callback):
    """Compares the model with the photographer's usual crop every validation epoch.

    Each epoch's line says how far the model is from the usual crop (the median of the
    training crops). A model that still does not beat it after ``warn_after`` epochs
    has learnt nothing about the photos yet; that is said once, plainly, with what to
    try.

    Args:
        warn_after: epochs before the warning can come.
    """

    def __init__(self, warn_after: int = 5) -> None:
        if warn_after < 1:
            raise ValueError(f"warn_after must be at least 1, got {warn_after!r}")
        self.warn_after = int(warn_after)
        self.best_margin = -math.inf
        self.warned = False

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Log the comparison; warn once when the model does not learn."""
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        metrics = trainer.callback_metrics
        if "val/iou" not in metrics or "val/iou_usual_crop" not in metrics:
            return
        model, usual = float(metrics["val/iou"]), float(metrics["val/iou_usual_crop"])
        margin = model - usual
        self.best_margin = max(self.best_margin, margin)
        epoch = trainer.current_epoch + 1
        angle = metrics.get("val/angle_mae")
        log.info(
            "epoch %d: val IoU %.3f, your usual crop %.3f (%+.3f)%s",
            epoch,
            model,
            usual,
            margin,
            f", angle error {float(angle):.2f} deg" if angle is not None else "",
        )
        if self.warned or epoch < self.warn_after or self.best_margin > 0:
            return
        self.warned = True
        log.warning(
            "after %d epochs the model still does not beat your usual crop on validation "
            "(IoU %.3f against %.3f): it has not learnt where you crop yet. Try more "
            "epochs (trainer.max_epochs), a larger input (data.image_size=160), more "
            "photos in the data set, or ImageNet weights (README: Train). If your crops "
            "barely vary, the usual crop may be all there is to learn.",
            epoch,
            model,
            usual,
        )
