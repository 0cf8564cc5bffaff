"""The Lightning system: backbone + valid-by-construction head, losses, metrics, optimiser.

Run: ``python train.py model=resnet34 loss=giou`` (Hydra builds this from conf/model).
Hyperparameters are primitives only, so ``CropRegressor.load_from_checkpoint(path)``
rebuilds the model (backbone, head, image size) without the training config.
"""

from __future__ import annotations

import math
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor, nn
from torchmetrics import MeanMetric

from cropperhead.geometry.aspect import ASPECT_CLASSES
from cropperhead.geometry.boxes import (
    angle_error_deg,
    boundary_displacement_error,
    crop_aspect_class,
    crop_iou_family,
    is_full_frame,
)
from cropperhead.losses import CropLoss
from cropperhead.model.backbones import build_backbone
from cropperhead.model.heads import CentreHead, CropHead, inference_columns

#: Full frame, unturned: the "no crop" baseline.
FULL_FRAME = (0.0, 0.0, 1.0, 1.0, 0.0)
#: Metric names computed for the model and for each baseline.
METRICS = ("iou", "bde", "angle_mae", "iou_over_0.8")


class CropMetrics(nn.Module):
    """Running means of IoU, BDE, angle MAE and the share of IoU > 0.8 (synced across ranks)."""

    def __init__(self) -> None:
        super().__init__()
        self.means = nn.ModuleDict({name.replace(".", "_"): MeanMetric() for name in METRICS})

    def update(self, pred: Tensor, target: Tensor, aspect: Tensor) -> Tensor:
        """Add a batch; returns the per-sample IoU ``[B]``."""
        pred, target = pred.detach().float(), target.float()
        ones = torch.ones_like(aspect, dtype=torch.float32)
        iou = crop_iou_family(pred, target, aspect.float(), ones, "iou")
        self.means["iou"].update(iou)
        self.means["bde"].update(boundary_displacement_error(pred, target))
        self.means["angle_mae"].update(angle_error_deg(pred, target))
        self.means["iou_over_0_8"].update((iou > 0.8).float())
        return iou

    def compute(self) -> dict[str, Tensor]:
        """``{name: value}`` over everything added since the last reset."""
        return {name: self.means[name.replace(".", "_")].compute() for name in METRICS}

    def reset(self) -> None:
        """Forget the running means."""
        for metric in self.means.values():
            metric.reset()


class CropRegressor(pl.LightningModule):
    """Regresses a photographer's crop (display frame) from the whole photo.

    Args:
        backbone: ``resnet18``, ``resnet34`` or ``resnet50``.
        pretrained: ``"auto"``, ``True`` or ``False`` (see model/backbones.py).
        max_angle: largest straighten angle the head can output, degrees.
        head_hidden: hidden width of the head (0: linear).
        dropout: dropout in the head.
        image_size: side of the square letterboxed input (kept for prediction).
        loss: ``CropLoss`` arguments, e.g. ``{"name": "giou", "l1_weight": 1.0}``.
        optimizer: ``{"name": "adamw"|"adam"|"sgd", "lr", "weight_decay", "backbone_lr_mult"}``.
        scheduler: ``{"name": "cosine"|"constant", "warmup_epochs": float, "min_lr_ratio"}``.
        channels_last: use the channels-last memory format (faster convolutions on GPUs).
        compile: wrap the network in ``torch.compile``.
        head: ``centre`` (a heatmap of the crop's centre over the photo, plus the
            photographer's aspect class, crop-or-leave and a quality score; see
            model/heads.py ``CentreHead``) or ``grid`` (one regression from a pooled grid,
            the head of CropperHead's first checkpoints).
        head_width: channels of the centre head's feature pyramid.
        orientation_bins: bins of the centre head's histogram of how the picture's lines
            lean (model/heads.py ``OrientationHistogram``; 0: none).
        attention_heads: learnt attention maps of the centre head that pool features
            from wherever they help (the subject, the horizon; 0: none).
    """

    def __init__(
        self,
        backbone: str = "resnet18",
        pretrained: bool | str = "auto",
        max_angle: float = 15.0,
        head_hidden: int = 256,
        dropout: float = 0.0,
        image_size: int = 224,
        loss: dict[str, Any] | None = None,
        optimizer: dict[str, Any] | None = None,
        scheduler: dict[str, Any] | None = None,
        channels_last: bool = True,
        compile: bool = False,
        head: str = "grid",
        head_width: int = 64,
        orientation_bins: int = 0,
        attention_heads: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.backbone, channels = build_backbone(backbone, pretrained)
        if head == "centre":
            self.head: nn.Module = CentreHead(
                channels,
                max_angle=max_angle,
                width=head_width,
                hidden=head_hidden,
                dropout=dropout,
                n_aspect_classes=len(ASPECT_CLASSES),
                orientation_bins=orientation_bins,
                attention_heads=attention_heads,
            )
        elif head == "grid":
            self.head = CropHead(channels, max_angle=max_angle, hidden=head_hidden, dropout=dropout)
        else:
            raise ValueError(f"model.head must be centre or grid, got {head!r}")
        self.criterion = CropLoss(**(loss or {}))
        self.optimizer_cfg = {
            "name": "adamw",
            "lr": 1e-3,
            "weight_decay": 1e-4,
            **(optimizer or {}),
        }
        self.scheduler_cfg = {"name": "cosine", "warmup_epochs": 1.0, **(scheduler or {})}
        # The training split's median crop: "my usual crop" baseline; set by on_fit_start
        # from the DataModule and saved in checkpoints.
        self.register_buffer("usual_crop", torch.tensor(FULL_FRAME))
        # The photographer's aspect classes (the others are never predicted) and whether
        # they leave photos uncropped (else every photo is predicted cropped); set by
        # on_fit_start from the DataModule's training split, kept in checkpoints.
        self.register_buffer("aspect_allowed", torch.ones(len(ASPECT_CLASSES), dtype=torch.bool))
        self.register_buffer("learns_decision", torch.tensor(False))
        self.val_metrics = nn.ModuleDict(
            {k: CropMetrics() for k in ("model", "full_frame", "usual_crop")}
        )
        self.test_metrics = nn.ModuleDict(
            {k: CropMetrics() for k in ("model", "full_frame", "usual_crop")}
        )
        self._compiled: nn.Module | None = None
        if channels_last:
            self.backbone = self.backbone.to(memory_format=torch.channels_last)
        #: The last validation batch's pictures, for the ValidationPictures callback.
        self.val_examples: dict[str, Tensor] | None = None

    def _features(self, images: Tensor) -> Tensor:
        if self.hparams.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        if self.hparams.compile:
            if self._compiled is None:
                # Kept out of the module tree so that checkpoints hold one copy of the weights.
                self.__dict__["_compiled"] = torch.compile(self.backbone)
            return self._compiled(images)
        return self.backbone(images)

    def outputs(self, images: Tensor, aspect: Tensor) -> dict[str, Tensor]:
        """Everything the head says about a batch (``crop`` and, for the centre head, more).

        Args:
            images: ``[B, 3, S, S]`` letterboxed photos, ImageNet-normalised.
            aspect: ``[B]`` display width / height of each photo.
        """
        if isinstance(self.head, CentreHead):
            return self.head(self._features(images), aspect, images)
        return {"crop": self.head(self._features(images), aspect)}

    def forward(self, images: Tensor, aspect: Tensor) -> Tensor:
        """Predict crops.

        Args:
            images: ``[B, 3, S, S]`` letterboxed photos, ImageNet-normalised.
            aspect: ``[B]`` display width / height of each photo.

        Returns:
            ``[B, 5]`` display-frame crop records, valid by construction.
        """
        return self.outputs(images, aspect)["crop"]

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Fill in what checkpoints of earlier versions do not hold (they still load)."""
        state = checkpoint.get("state_dict", {})
        for name in ("aspect_allowed", "learns_decision"):
            state.setdefault(name, getattr(self, name).clone())

    def on_fit_start(self) -> None:
        """Take the baseline and the photographer's habits from the training split."""
        datamodule = getattr(self.trainer, "datamodule", None)
        usual = getattr(datamodule, "usual_crop", None)
        if usual is not None:
            self.usual_crop.copy_(torch.as_tensor(usual, dtype=self.usual_crop.dtype))
        habit = getattr(datamodule, "aspect_habit", None)
        if habit:
            allowed = torch.tensor([name in habit for name in ASPECT_CLASSES])
            self.aspect_allowed.copy_(allowed)
        self.learns_decision.fill_(bool(getattr(datamodule, "has_uncropped", False)))

    def _shared_step(
        self, batch: dict[str, Tensor], stage: str
    ) -> tuple[Tensor, dict[str, Tensor]]:
        out = self.outputs(batch["image"], batch["aspect"])
        pred, target, aspect = out["crop"], batch["crop"], batch["aspect"]
        cropped = (~is_full_frame(target.float())).float()
        terms = self.criterion(pred, target, aspect, weight=cropped)
        if "heat" in out:
            aspect_class = crop_aspect_class(target.float(), aspect.float(), self.aspect_allowed)
            out["aspect_logits"] = self._mask_classes(out["aspect_logits"])
            head = self.criterion.head_terms(
                out, target, aspect, cropped, aspect_class, bool(self.learns_decision)
            )
            terms["loss"] = terms["loss"] + head.pop("head")
            terms.update(head)
            out["aspect_class"] = aspect_class
        n = len(batch["image"])
        on_step = stage == "train"
        for name, value in terms.items():
            self.log(
                f"{stage}/{name}",
                value,
                batch_size=n,
                on_step=on_step,
                on_epoch=True,
                prog_bar=name == "loss" and stage == "train",
                sync_dist=not on_step,
            )
        return terms["loss"], out

    def _mask_classes(self, logits: Tensor) -> Tensor:
        """Aspect-class logits with the classes outside the photographer's habit ruled out."""
        return logits.masked_fill(~self.aspect_allowed.to(logits.device), -1e4)

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        """One optimisation step's loss."""
        loss, _ = self._shared_step(batch, "train")
        return loss

    def effective_crops(self, out: dict[str, Tensor]) -> Tensor:
        """The crops a user gets: the full frame where the photographer would not crop."""
        pred = out["crop"]
        if "crop_logit" not in out or not bool(self.learns_decision):
            return pred
        leave = torch.sigmoid(out["crop_logit"].float()) < 0.5
        full = torch.tensor(FULL_FRAME, device=pred.device, dtype=pred.dtype).expand_as(pred)
        return torch.where(leave.unsqueeze(1), full, pred)

    def _evaluate(self, batch: dict[str, Tensor], stage: str, metrics: nn.ModuleDict) -> Tensor:
        _, out = self._shared_step(batch, stage)
        pred = self.effective_crops(out)
        target, aspect = batch["crop"], batch["aspect"]
        metrics["model"].update(pred, target, aspect)
        if "aspect_logits" in out:
            n = len(pred)
            cropped = ~is_full_frame(target.float())
            hit = (out["aspect_logits"].argmax(1) == out["aspect_class"]).float()
            if cropped.any():
                self.log(f"{stage}/aspect_acc", hit[cropped].mean(), batch_size=int(cropped.sum()))
            if bool(self.learns_decision):
                says_crop = torch.sigmoid(out["crop_logit"].float()) >= 0.5
                right = (says_crop == cropped).float().mean()
                self.log(f"{stage}/decision_acc", right, batch_size=n)
        metrics["full_frame"].update(
            torch.tensor(FULL_FRAME, device=pred.device).expand_as(target), target, aspect
        )
        metrics["usual_crop"].update(self.usual_crop.to(pred).expand_as(target), target, aspect)
        return pred

    def _log_metrics(self, stage: str, metrics: nn.ModuleDict) -> None:
        for who, group in metrics.items():
            for name, value in group.compute().items():
                key = f"{stage}/{name}" if who == "model" else f"{stage}/{name}_{who}"
                self.log(key, value, prog_bar=key in (f"{stage}/iou", f"{stage}/iou_usual_crop"))
            group.reset()

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        """Loss, metrics and baselines on a validation batch."""
        pred = self._evaluate(batch, "val", self.val_metrics)
        if batch_idx == 0:
            self.val_examples = {
                "image": batch["image"][:16].detach().cpu(),
                "content_box": batch["content_box"][:16].detach().cpu(),
                "crop": batch["crop"][:16].detach().cpu(),
                "pred": pred[:16].detach().float().cpu(),
                "aspect": batch["aspect"][:16].detach().cpu(),
            }

    def on_validation_epoch_end(self) -> None:
        """Log the epoch's metrics next to the two baselines."""
        self._log_metrics("val", self.val_metrics)

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        """Loss, metrics and baselines on a test batch."""
        self._evaluate(batch, "test", self.test_metrics)

    def on_test_epoch_end(self) -> None:
        """Log the test metrics next to the two baselines."""
        self._log_metrics("test", self.test_metrics)

    def predict_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        """``[B, 5]`` display-frame crops for a batch of photos."""
        return self(batch["image"], batch["aspect"]).float()

    def inference_outputs(self, out: dict[str, Tensor]) -> Tensor:
        """The head's outputs as prediction hands them on: ``[B, 5 + E]``.

        Columns: the crop (5); then, for the centre head, the probability of each aspect
        class (:data:`~cropperhead.geometry.aspect.ASPECT_CLASSES`, those outside the
        habit at 0), the probability that the photographer crops this photo (1 when the
        training set had no uncropped photo) and the quality score (0..1). E is 0 for
        the grid head.
        """
        return inference_columns(out, self.aspect_allowed, self.learns_decision)

    def configure_optimizers(self) -> dict[str, Any]:
        """AdamW (or Adam/SGD) without decay on norms and biases, warmup + cosine."""
        cfg = self.optimizer_cfg
        lr, wd = float(cfg["lr"]), float(cfg.get("weight_decay", 0.0))
        mult = float(cfg.get("backbone_lr_mult", 1.0))
        groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
        for name, param in self.named_parameters():
            if not param.requires_grad:
                continue
            key = (name.startswith("backbone."), param.ndim <= 1)
            groups.setdefault(key, []).append(param)
        param_groups = [
            {
                "params": params,
                "lr": lr * (mult if is_backbone else 1.0),
                "weight_decay": 0.0 if no_decay else wd,
            }
            for (is_backbone, no_decay), params in groups.items()
        ]
        name = str(cfg.get("name", "adamw")).lower()
        if name == "adamw":
            opt = torch.optim.AdamW(param_groups, lr=lr)
        elif name == "adam":
            opt = torch.optim.Adam(param_groups, lr=lr)
        elif name == "sgd":
            opt = torch.optim.SGD(param_groups, lr=lr, momentum=float(cfg.get("momentum", 0.9)))
        else:
            raise ValueError(f"optimizer name must be adamw, adam or sgd, got {name!r}")

        sched = self.scheduler_cfg
        sname = str(sched.get("name", "cosine")).lower()
        if sname == "constant":
            return {"optimizer": opt}
        if sname != "cosine":
            raise ValueError(f"scheduler name must be cosine or constant, got {sname!r}")
        total = max(int(self.trainer.estimated_stepping_batches), 1)
        epochs = max(int(self.trainer.max_epochs or 1), 1)
        warmup = int(total * min(float(sched.get("warmup_epochs", 1.0)) / epochs, 0.5))
        floor = float(sched.get("min_lr_ratio", 0.01))

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / (warmup + 1)
            progress = min((step - warmup) / max(total - warmup, 1), 1.0)
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

        scheduler = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
