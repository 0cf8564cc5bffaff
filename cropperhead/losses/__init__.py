"""Crop losses: an IoU-type (or L1) main term plus an edge L1 term and an angle term.

``CropLoss(name="giou", weight=1.0, l1_weight=1.0, angle_weight=1.0)`` is built from the
plain ``model.loss`` config node (conf/loss/*.yaml). The IoU family comes from
``geometry.boxes`` (turned rectangles in the display frame, so the photo's aspect
counts; equal to torchvision.ops for unturned crops); nothing is re-derived here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from cropperhead.geometry.boxes import crop_iou_family

LOSSES = ("l1", "smooth_l1", "iou", "giou", "diou", "ciou")


class CropLoss(nn.Module):
    """Weighted sum of a main term, an edge L1 term and an angle term.

    Args:
        name: main term: ``l1``/``smooth_l1`` on the four edges, or ``iou``/``giou``/
            ``diou``/``ciou`` (``1 - value``) on the turned rectangles.
        weight: weight of the main term.
        l1_weight: weight of the mean absolute edge error (fractions of the frame).
        angle_weight: weight of the smooth-L1 angle error, in units of ``angle_scale``.
        angle_scale: degrees that count as one unit of angle error.
        beta: smooth-L1 transition point (in fractions for edges, units for the angle).
    """

    def __init__(
        self,
        name: str = "giou",
        weight: float = 1.0,
        l1_weight: float = 1.0,
        angle_weight: float = 1.0,
        angle_scale: float = 5.0,
        beta: float = 0.02,
    ):
        super().__init__()
        if name not in LOSSES:
            raise ValueError(f"loss name must be one of {', '.join(LOSSES)}, got {name!r}")
        for key, value in (
            ("weight", weight),
            ("l1_weight", l1_weight),
            ("angle_weight", angle_weight),
        ):
            if value < 0:
                raise ValueError(f"loss {key} must be >= 0, got {value!r}")
        if angle_scale <= 0:
            raise ValueError(f"angle_scale must be > 0, got {angle_scale!r}")
        self.name, self.weight, self.l1_weight = name, weight, l1_weight
        self.angle_weight, self.angle_scale, self.beta = angle_weight, angle_scale, beta

    def forward(self, pred: Tensor, target: Tensor, aspect: Tensor) -> dict[str, Tensor]:
        """Loss terms for ``[B, 5]`` predicted and target crops of photos with ``[B]`` aspects.

        Returns:
            ``{"loss": total, "main": ..., "l1": ..., "angle": ...}``, each a scalar.
        """
        pred, target = pred.float(), target.float()
        edges_l1 = (pred[:, :4] - target[:, :4]).abs().mean()
        if self.name == "l1":
            main = edges_l1
        elif self.name == "smooth_l1":
            main = F.smooth_l1_loss(pred[:, :4], target[:, :4], beta=self.beta)
        else:
            ones = torch.ones_like(aspect, dtype=pred.dtype)
            main = (1 - crop_iou_family(pred, target, aspect.to(pred), ones, self.name)).mean()
        angle = F.smooth_l1_loss(
            pred[:, 4] / self.angle_scale, target[:, 4] / self.angle_scale, beta=1.0
        )
        total = self.weight * main + self.l1_weight * edges_l1 + self.angle_weight * angle
        return {"loss": total, "main": main, "l1": edges_l1, "angle": angle}
