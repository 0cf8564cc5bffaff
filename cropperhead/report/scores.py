"""The scores of crop suggestions: per sample, and summarised over a set of samples.

Every score is measured in the display frame of the photo, ``W' x H'`` pixels:

- rotated IoU (:func:`cropperhead.geometry.rotated_iou`), summarised as mean, median
  and the share of samples above :data:`IOU_THRESHOLD`;
- boundary displacement error (:func:`cropperhead.geometry.boundary_displacement_error`);
- angle error in degrees (:func:`cropperhead.geometry.angle_error_deg`);
- aspect match: the crop has the photographer's aspect (the output picture's width /
  height in display pixels, the sides of a turned crop, not its bounding box) within
  :data:`ASPECT_TOLERANCE`, relative;
- crop or leave: accuracy, precision and recall of the decision "crop";
- :func:`spearman_rank_correlation`, for how well a confidence sorts good suggestions
  from bad ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cropperhead.geometry import (
    Crop,
    angle_error_deg,
    boundary_displacement_error,
    crop_output_size_px,
    rotated_iou,
)

#: A suggestion "gets it right" above this IoU.
IOU_THRESHOLD = 0.8
#: Relative difference under which a crop's aspect counts as the photographer's.
ASPECT_TOLERANCE = 0.01


def score(predicted: Crop, target: Crop, width: int, height: int) -> tuple[float, float, float]:
    """IoU, boundary displacement error and angle error of one crop against another.

    Args:
        predicted: a display-frame crop.
        target: the photographer's display-frame crop of the same photo.
        width: display width W' in pixels.
        height: display height H' in pixels.

    Returns:
        ``(iou, bde, angle_error_deg)``.
    """
    return (
        rotated_iou(predicted, target, width, height),
        boundary_displacement_error(predicted, target),
        angle_error_deg(predicted, target),
    )


def crop_aspect(crop: Crop, width: int, height: int) -> float:
    """Width / height of the cropped, straightened picture in display pixels.

    The sides of the turned rectangle (:func:`cropperhead.geometry.crop_output_size_px`),
    not its bounding box; NaN for a crop that is not a rectangle.
    """
    out_w, out_h = crop_output_size_px(crop, width, height)
    return out_w / out_h if out_w > 0 and out_h > 0 else math.nan


def aspects_match(predicted: Crop, target: Crop, width: int, height: int) -> bool:
    """Whether ``predicted`` has ``target``'s aspect within :data:`ASPECT_TOLERANCE`, relative."""
    a, b = crop_aspect(predicted, width, height), crop_aspect(target, width, height)
    return bool(abs(a - b) <= ASPECT_TOLERANCE * b)  # NaN compares False


def spearman_rank_correlation(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation of two equally long sequences (ties: average ranks).

    Returns:
        The Pearson correlation of the ranks, in [-1, 1]; NaN for fewer than two
        values or when either side is constant.

    Raises:
        ValueError: the lengths differ.
    """
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"need two sequences of one length, got {a.shape} and {b.shape}")
    if len(a) < 2:
        return math.nan
    ra, rb = _average_ranks(a), _average_ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    norm = math.sqrt(float(np.dot(ra, ra)) * float(np.dot(rb, rb)))
    if norm == 0:
        return math.nan
    return float(np.clip(np.dot(ra, rb) / norm, -1.0, 1.0))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks; equal values share the mean of the ranks they span."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    group = np.concatenate([[0], np.cumsum(ordered[1:] != ordered[:-1])])
    positions = np.arange(1, len(values) + 1, dtype=np.float64)
    mean_rank = np.bincount(group, weights=positions) / np.bincount(group)
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = mean_rank[group]
    return ranks


@dataclass(frozen=True)
class Scores:
    """Scores of one crop suggester over the matched samples.

    Attributes:
        count: samples scored.
        iou_mean: mean rotated IoU in display pixels.
        iou_median: median rotated IoU.
        iou_above: share of samples with IoU > :data:`IOU_THRESHOLD` (0..1).
        bde_mean: mean boundary displacement error (fractions of the frame).
        angle_mae_deg: mean absolute angle error in degrees.
        aspect_accuracy: share of samples whose crop aspect is the photographer's
            within :data:`ASPECT_TOLERANCE` (0..1).
        crop_accuracy: share of samples where the decision to crop or leave the photo
            is the photographer's; NaN unless decisions are scored.
        crop_precision: of the samples this suggester crops, the share the photographer
            cropped; NaN when it crops none or decisions are not scored.
        crop_recall: of the samples the photographer cropped, the share this suggester
            crops; NaN when there are none or decisions are not scored.
    """

    count: int
    iou_mean: float
    iou_median: float
    iou_above: float
    bde_mean: float
    angle_mae_deg: float
    aspect_accuracy: float = math.nan
    crop_accuracy: float = math.nan
    crop_precision: float = math.nan
    crop_recall: float = math.nan

    @classmethod
    def of(
        cls,
        ious: Sequence[float],
        bdes: Sequence[float],
        angles: Sequence[float],
        aspect_matches: Sequence[bool] = (),
        decisions: tuple[Sequence[bool], Sequence[bool]] | None = None,
    ) -> Scores:
        """Summarise per-sample scores (NaN everywhere when empty).

        Args:
            ious: rotated IoU per sample.
            bdes: boundary displacement error per sample.
            angles: absolute angle error per sample.
            aspect_matches: per sample, whether the crop's aspect is the photographer's
                (NaN aspect accuracy when empty).
            decisions: ``(crops, photographer_crops)``, per sample whether this
                suggester crops and whether the photographer did; None: not scored.
        """
        if not len(ious):
            return cls(0, math.nan, math.nan, math.nan, math.nan, math.nan)
        iou = np.asarray(ious, dtype=np.float64)
        aspect = float(np.mean(aspect_matches)) if len(aspect_matches) else math.nan
        accuracy = precision = recall = math.nan
        if decisions is not None:
            crops = np.asarray(decisions[0], dtype=bool)
            truth = np.asarray(decisions[1], dtype=bool)
            accuracy = float((crops == truth).mean())
            hits = float(np.sum(crops & truth))
            precision = hits / crops.sum() if crops.any() else math.nan
            recall = hits / truth.sum() if truth.any() else math.nan
        return cls(
            count=len(iou),
            iou_mean=float(iou.mean()),
            iou_median=float(np.median(iou)),
            iou_above=float((iou > IOU_THRESHOLD).mean()),
            bde_mean=float(np.mean(bdes)),
            angle_mae_deg=float(np.mean(angles)),
            aspect_accuracy=aspect,
            crop_accuracy=accuracy,
            crop_precision=float(precision),
            crop_recall=float(recall),
        )

    def to_dict(self) -> dict[str, Any]:
        """The scores as a JSON-ready dict (NaN becomes None)."""
        return {k: json_number(v) for k, v in self.__dict__.items()}


def json_number(value: Any) -> Any:
    """``value``, with NaN as None (JSON has no NaN)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
