"""Crop losses: an IoU-type (or L1) main term plus an edge L1 term and an angle term.

``CropLoss(name="giou", weight=1.0, l1_weight=1.0, angle_weight=1.0)`` is built from the
plain ``model.loss`` config node (conf/loss/*.yaml). The IoU family comes from
``geometry.boxes`` (turned rectangles in the display frame, so the photo's aspect
counts; equal to torchvision.ops for unturned crops); nothing is re-derived here.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from cropperhead.geometry.boxes import crop_iou_family, crop_to_frame

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
        centre_weight: weight of the centre heatmap's cross-entropy against a Gaussian
            around the true centre (centre head only; see :meth:`head_terms`).
        centre_sigma: that Gaussian's standard deviation in grid cells.
        aspect_weight: weight of the aspect-class cross-entropy.
        decision_weight: weight of the crop-or-leave binary cross-entropy.
        quality_weight: weight of the quality head's binary cross-entropy against the
            IoU the crop actually reached.
    """

    def __init__(
        self,
        name: str = "giou",
        weight: float = 1.0,
        l1_weight: float = 1.0,
        angle_weight: float = 1.0,
        angle_scale: float = 5.0,
        beta: float = 0.02,
        centre_weight: float = 1.0,
        centre_sigma: float = 0.75,
        aspect_weight: float = 0.2,
        decision_weight: float = 0.2,
        quality_weight: float = 0.1,
    ):
        super().__init__()
        if name not in LOSSES:
            raise ValueError(f"loss name must be one of {', '.join(LOSSES)}, got {name!r}")
        for key, value in (
            ("weight", weight),
            ("l1_weight", l1_weight),
            ("angle_weight", angle_weight),
            ("centre_weight", centre_weight),
            ("aspect_weight", aspect_weight),
            ("decision_weight", decision_weight),
            ("quality_weight", quality_weight),
        ):
            if value < 0:
                raise ValueError(f"loss {key} must be >= 0, got {value!r}")
        if angle_scale <= 0:
            raise ValueError(f"angle_scale must be > 0, got {angle_scale!r}")
        self.name, self.weight, self.l1_weight = name, weight, l1_weight
        self.angle_weight, self.angle_scale, self.beta = angle_weight, angle_scale, beta
        if centre_sigma <= 0:
            raise ValueError(f"centre_sigma must be > 0, got {centre_sigma!r}")
        self.centre_weight, self.centre_sigma = centre_weight, centre_sigma
        self.aspect_weight, self.decision_weight = aspect_weight, decision_weight
        self.quality_weight = quality_weight

    def forward(
        self, pred: Tensor, target: Tensor, aspect: Tensor, weight: Tensor | None = None
    ) -> dict[str, Tensor]:
        """Loss terms for ``[B, 5]`` predicted and target crops of photos with ``[B]`` aspects.

        Args:
            pred: predicted crops.
            target: the photographer's crops.
            aspect: photo aspects.
            weight: ``[B]`` per-sample weights (0 leaves a sample out: a photo the
                photographer left uncropped teaches nothing about *how* they crop);
                None: all 1.

        Returns:
            ``{"loss": total, "main": ..., "l1": ..., "angle": ...}``, each a scalar.
        """
        pred, target = pred.float(), target.float()
        w = torch.ones_like(pred[:, 0]) if weight is None else weight.to(pred)
        total_w = w.sum().clamp_min(1e-6)

        def mean(values: Tensor) -> Tensor:
            return (values * w).sum() / total_w

        edges_l1 = mean((pred[:, :4] - target[:, :4]).abs().mean(1))
        if self.name == "l1":
            main = edges_l1
        elif self.name == "smooth_l1":
            smooth = F.smooth_l1_loss(pred[:, :4], target[:, :4], beta=self.beta, reduction="none")
            main = mean(smooth.mean(1))
        else:
            ones = torch.ones_like(aspect, dtype=pred.dtype)
            main = mean(1 - crop_iou_family(pred, target, aspect.to(pred), ones, self.name))
        angle = mean(
            F.smooth_l1_loss(
                pred[:, 4] / self.angle_scale,
                target[:, 4] / self.angle_scale,
                beta=1.0,
                reduction="none",
            )
        )
        total = self.weight * main + self.l1_weight * edges_l1 + self.angle_weight * angle
        return {"loss": total, "main": main, "l1": edges_l1, "angle": angle}

    def head_terms(
        self,
        outputs: dict[str, Tensor],
        target: Tensor,
        aspect: Tensor,
        cropped: Tensor,
        aspect_class: Tensor,
        learn_decision: bool,
    ) -> dict[str, Tensor]:
        """The centre head's own terms (model/heads.py ``CentreHead`` outputs).

        - ``centre``: cross-entropy of the centre distribution against a Gaussian of
          :attr:`centre_sigma` cells around the true centre: a direct, spatial signal of
          *where* the crop goes, which the IoU of a soft-argmax alone gives weakly.
        - ``aspect_class``: cross-entropy of the photographer's aspect class.
        - ``decision``: binary cross-entropy of "crops this photo" (when learnt).
        - ``quality``: binary cross-entropy of the quality score against the IoU the
          predicted crop reached (no gradient into the crop).

        Args:
            outputs: the head's outputs.
            target: ``[B, 5]`` the photographer's crops.
            aspect: ``[B]`` photo aspects.
            cropped: ``[B]`` 1 where the photographer cropped, 0 where they left the
                photo alone (only the decision learns from those).
            aspect_class: ``[B]`` class index of each target crop.
            learn_decision: whether the data set has uncropped photos to learn from.

        Returns:
            The weighted sum as ``"head"`` and each term.
        """
        w = cropped.float()
        total_w = w.sum().clamp_min(1e-6)
        heat, cells = outputs["heat"].float(), outputs["cells"].float()
        frame = crop_to_frame(target.float(), aspect.float(), torch.ones_like(aspect.float()))
        centre = torch.stack([frame[:, 0] / aspect.float(), frame[:, 1]], -1)  # photo fractions
        # Distances in cells: a cell is 1 / cols of the canvas, i.e. of the long side.
        cols = math.isqrt(heat.shape[1])
        long_side = torch.maximum(aspect.float(), torch.ones_like(aspect.float()))
        scale = torch.stack([aspect.float(), torch.ones_like(aspect.float())], -1)
        offset = (cells - centre.unsqueeze(1)) * scale.unsqueeze(1) / long_side.view(-1, 1, 1)
        d2 = (offset * cols).pow(2).sum(-1)  # [B, N] squared distance in cells
        inside = heat > -1e3
        gauss = torch.exp(-0.5 * d2 / self.centre_sigma**2) * inside
        gauss = gauss / gauss.sum(1, keepdim=True).clamp_min(1e-12)
        log_p = torch.log_softmax(heat, 1)
        centre_ce = ((-(gauss * log_p).sum(1)) * w).sum() / total_w
        aspect_ce = (
            F.cross_entropy(outputs["aspect_logits"].float(), aspect_class, reduction="none") * w
        ).sum() / total_w
        zero = heat.new_zeros(())
        decision = (
            F.binary_cross_entropy_with_logits(outputs["crop_logit"].float(), cropped.float())
            if learn_decision
            else zero
        )
        with torch.no_grad():
            ones = torch.ones_like(aspect.float())
            reached = crop_iou_family(
                outputs["crop"].float(), target.float(), aspect.float(), ones, "iou"
            )
        quality = (
            F.binary_cross_entropy_with_logits(
                outputs["quality_logit"].float(), reached, reduction="none"
            )
            * w
        ).sum() / total_w
        head = (
            self.centre_weight * centre_ce
            + self.aspect_weight * aspect_ce
            + self.decision_weight * decision
            + self.quality_weight * quality
        )
        return {
            "head": head,
            "centre": centre_ce,
            "aspect_class": aspect_ce,
            "decision": decision,
            "quality": quality,
        }
