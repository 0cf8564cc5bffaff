"""How close suggested crops come to the photographer's own, next to two baselines.

Predictions are matched to manifest samples by ``source`` (see
:func:`~cropperhead.report.predictions.source_key`). A photo with several samples
(Lightroom virtual copies) is compared against each of them, so the unit of every score
is one manifest sample. Scores are measured in the display frame of each photo,
``W' x H'`` pixels as the manifest records them:

- rotated IoU (:func:`cropperhead.geometry.rotated_iou`): mean, median and the share of
  samples above 0.8;
- boundary displacement error (:func:`cropperhead.geometry.boundary_displacement_error`);
- angle MAE in degrees (:func:`cropperhead.geometry.angle_error_deg`).

The same samples are scored for two baselines: the full frame (no crop at all) and
"my usual crop", the median of each crop coordinate over the manifest
(:func:`cropperhead.data.dataset.usual_crop`; over the training split when a split is
evaluated, as training computes it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from cropperhead.geometry import Crop, angle_error_deg, boundary_displacement_error, rotated_iou
from cropperhead.report.predictions import (
    Prediction,
    ReportError,
    prediction_from_dict,
    source_key,
)

if TYPE_CHECKING:
    from cropperhead.data.manifest import Sample

#: A suggestion "gets it right" above this IoU.
IOU_THRESHOLD = 0.8
#: Relative aspect difference above which a prediction's W' x H' disagrees with the manifest.
SIZE_TOLERANCE = 0.01
SPLITS = ("all", "train", "val", "test")


class EvaluationError(ReportError):
    """Nothing to evaluate (no prediction matched a sample), with a one-line message."""


@dataclass(frozen=True)
class Target:
    """One manifest sample as evaluation needs it.

    Attributes:
        source: the original photo.
        width: display width W' of the original.
        height: display height H' of the original.
        crop: the photographer's display-frame crop.
    """

    source: str
    width: int
    height: int
    crop: Crop


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
    """

    count: int
    iou_mean: float
    iou_median: float
    iou_above: float
    bde_mean: float
    angle_mae_deg: float

    @classmethod
    def of(cls, ious: Sequence[float], bdes: Sequence[float], angles: Sequence[float]) -> Scores:
        """Summarise per-sample IoU, BDE and angle errors (NaN everywhere when empty)."""
        if not len(ious):
            return cls(0, math.nan, math.nan, math.nan, math.nan, math.nan)
        iou = np.asarray(ious, dtype=np.float64)
        return cls(
            count=len(iou),
            iou_mean=float(iou.mean()),
            iou_median=float(np.median(iou)),
            iou_above=float((iou > IOU_THRESHOLD).mean()),
            bde_mean=float(np.mean(bdes)),
            angle_mae_deg=float(np.mean(angles)),
        )

    def to_dict(self) -> dict[str, Any]:
        """The scores as a JSON-ready dict (NaN becomes None)."""
        return {k: _json_number(v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Comparison:
    """One prediction against one manifest sample of the same photo.

    Attributes:
        source: the photo.
        width: display width W' used for the IoU (the manifest's).
        height: display height H' used for the IoU.
        target: the photographer's crop.
        predicted: the suggested crop.
        iou: rotated IoU of the two.
        bde: boundary displacement error.
        angle_error_deg: absolute angle difference in degrees.
        confidence: the prediction's confidence, when it has one.
    """

    source: str
    width: int
    height: int
    target: Crop
    predicted: Crop
    iou: float
    bde: float
    angle_error_deg: float
    confidence: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the comparison."""
        return {
            "source": self.source,
            "width": self.width,
            "height": self.height,
            "target": self.target.to_dict(),
            "predicted": self.predicted.to_dict(),
            "iou": self.iou,
            "bde": self.bde,
            "angle_error_deg": self.angle_error_deg,
            "confidence": self.confidence,
        }


@dataclass(frozen=True)
class EvaluationResult:
    """The outcome of :func:`evaluate`.

    Attributes:
        model: scores of the predictions.
        full_frame: scores of the full-frame baseline on the same samples.
        usual_crop: scores of the median-crop baseline on the same samples.
        usual: the median crop itself.
        comparisons: one per matched (prediction, sample) pair, in prediction order.
        matched_photos: photos with a prediction and at least one sample.
        unmatched_predictions: sources of predictions with no sample.
        unmatched_samples: sources of samples with no prediction (once per sample).
        skipped_predictions: ``(source, reason)`` of photos the predictor could not read.
        duplicate_predictions: sources predicted more than once (the first one counts).
        size_mismatches: sources whose predicted W' x H' has another aspect than the
            manifest's (scored with the manifest's size; check the orientation).
        split: the split evaluated (``all``, ``train``, ``val`` or ``test``).
        split_seed: the split's seed, None for ``all``.
        outside_split: predictions of photos in another split (not scored, not unmatched).
    """

    model: Scores
    full_frame: Scores
    usual_crop: Scores
    usual: Crop
    comparisons: list[Comparison]
    matched_photos: int
    unmatched_predictions: list[str] = field(default_factory=list)
    unmatched_samples: list[str] = field(default_factory=list)
    skipped_predictions: list[tuple[str, str]] = field(default_factory=list)
    duplicate_predictions: list[str] = field(default_factory=list)
    size_mismatches: list[str] = field(default_factory=list)
    split: str = "all"
    split_seed: int | None = None
    outside_split: int = 0

    @property
    def matched_samples(self) -> int:
        """Samples scored (one per comparison)."""
        return len(self.comparisons)

    def to_dict(self) -> dict[str, Any]:
        """Everything as a JSON-ready dict (what ``cropperhead evaluate --json`` prints)."""
        return {
            "split": self.split,
            "split_seed": self.split_seed,
            "iou_threshold": IOU_THRESHOLD,
            "matched_samples": self.matched_samples,
            "matched_photos": self.matched_photos,
            "model": self.model.to_dict(),
            "baselines": {
                "full_frame": self.full_frame.to_dict(),
                "usual_crop": self.usual_crop.to_dict(),
            },
            "usual_crop": self.usual.to_dict(),
            "unmatched_predictions": self.unmatched_predictions,
            "unmatched_samples": self.unmatched_samples,
            "skipped_predictions": [
                {"source": s, "reason": r} for s, r in self.skipped_predictions
            ],
            "duplicate_predictions": self.duplicate_predictions,
            "size_mismatches": self.size_mismatches,
            "outside_split": self.outside_split,
            "per_sample": [c.to_dict() for c in self.comparisons],
        }

    def format_table(self) -> str:
        """A readable table: the model next to the baselines, then what did not match."""
        head = f"{self.matched_samples} sample(s) of {self.matched_photos} photo(s) matched" + (
            f" (split {self.split}, seed {self.split_seed})" if self.split != "all" else ""
        )
        rows = [
            ("model", self.model),
            ("usual crop (median)", self.usual_crop),
            ("full frame", self.full_frame),
        ]
        above = f"IoU>{IOU_THRESHOLD:g}"
        lines = [
            head,
            "",
            f"{'':<21}{'mean IoU':>9}{'median IoU':>12}{above:>9}{'BDE':>8}{'angle MAE':>11}",
        ]
        for name, s in rows:
            lines.append(
                f"{name:<21}{_fmt(s.iou_mean, '.3f'):>9}{_fmt(s.iou_median, '.3f'):>12}"
                f"{_fmt(100 * s.iou_above, '.1f', '%'):>9}{_fmt(s.bde_mean, '.4f'):>8}"
                f"{_fmt(s.angle_mae_deg, '.2f', ' deg'):>11}"
            )
        lines.append("")
        lines.append(
            f"unmatched: {len(self.unmatched_predictions)} prediction(s) (no manifest sample), "
            f"{len(self.unmatched_samples)} manifest sample(s) (no prediction)"
        )
        notes = [
            (self.skipped_predictions, "photo(s) the predictor skipped"),
            (self.duplicate_predictions, "photo(s) predicted more than once (first kept)"),
            (self.size_mismatches, "prediction(s) whose W'xH' disagrees with the manifest"),
        ]
        for items, text in notes:
            if items:
                first = items[0] if isinstance(items[0], str) else items[0][0]
                lines.append(f"{len(items)} {text}, e.g. {first}")
        if self.outside_split:
            lines.append(f"{self.outside_split} prediction(s) of photos in other splits ignored")
        return "\n".join(lines)


def _fmt(value: float, spec: str, unit: str = "") -> str:
    return "-" if math.isnan(value) else f"{value:{spec}}{unit}"


def _json_number(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _target(row: Sample | Mapping[str, Any]) -> Target:
    if not isinstance(row, Mapping):
        return Target(str(row.source), int(row.width), int(row.height), row.crop)
    try:
        crop = row["crop"]
        target = Target(
            source=str(row["source"]),
            width=int(row["width"]),
            height=int(row["height"]),
            crop=crop if isinstance(crop, Crop) else Crop.from_dict(crop),
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"malformed manifest row ({exc!r}): {row!r}") from exc
    if target.width <= 0 or target.height <= 0:
        raise ValueError(f"manifest row has no size: {row!r}")
    return target


def _prediction(item: Prediction | Mapping[str, Any]) -> Prediction:
    return item if isinstance(item, Prediction) else prediction_from_dict(item)


def median_crop(targets: Sequence[Target]) -> Crop:
    """The "my usual crop" baseline: the median of each coordinate (full frame if none)."""
    from cropperhead.data.manifest import usual_crop

    return Crop(*usual_crop(targets))  # usual_crop only reads ``.crop``


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


def match(
    manifest_rows: Sequence[Sample | Mapping[str, Any]],
    predictions: Sequence[Prediction | Mapping[str, Any]],
) -> EvaluationResult:
    """Match predictions to samples and score them; never raises for "nothing matched".

    This is :func:`evaluate` for callers (the HTML report) that can do without a match;
    see there for the arguments. With no match, the scores are NaN.
    """
    return _evaluate([_target(r) for r in manifest_rows], predictions, None, "all", None)


def evaluate(
    manifest_rows: Sequence[Sample | Mapping[str, Any]],
    predictions: Sequence[Prediction | Mapping[str, Any]],
    usual: Crop | None = None,
) -> EvaluationResult:
    """Score predictions against the photographer's crops, next to two baselines.

    Args:
        manifest_rows: the samples, as :class:`~cropperhead.data.dataset.Sample` (what
            ``read_manifest`` returns) or manifest.jsonl dicts (``source``, ``width``,
            ``height``, ``crop``).
        predictions: :class:`~cropperhead.report.predictions.Prediction` or
            predictions.jsonl dicts (``source``, ``width``, ``height``, ``crop``, optional
            ``confidence``).
        usual: the "my usual crop" baseline; default the median crop of ``manifest_rows``.

    Returns:
        The scores and the bookkeeping of what did not match.

    Raises:
        EvaluationError: no prediction matched any sample.
        ValueError: a row or prediction is malformed.
    """
    targets = [_target(r) for r in manifest_rows]
    result = _evaluate(targets, predictions, usual, "all", None)
    _check_matched(result, len(targets))
    return result


def evaluate_split(
    samples: Sequence[Sample],
    predictions: Sequence[Prediction | Mapping[str, Any]],
    split: str,
    seed: int = 42,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
) -> EvaluationResult:
    """:func:`evaluate` on one split of the data set, exactly as training splits it.

    The split is :func:`cropperhead.data.datamodule.split_samples` (by source photo, a
    hash of the seed); the usual-crop baseline is the median of the *training* split,
    as the training run computes it. Predictions of photos in other splits are counted
    in ``outside_split`` and otherwise ignored.

    Args:
        samples: every sample of the data set.
        predictions: as for :func:`evaluate`.
        split: ``all``, ``train``, ``val`` or ``test``.
        seed: the training run's ``seed`` (default 42, as conf/train.yaml).
        val_fraction: the training run's ``data.val_fraction``.
        test_fraction: the training run's ``data.test_fraction``.

    Raises:
        EvaluationError: no prediction matched a sample of the split.
        ValueError: an unknown split or bad fractions.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if split == "all":
        return evaluate(samples, predictions)
    from cropperhead.data.datamodule import split_samples

    splits = split_samples(list(samples), seed, val_fraction, test_fraction)
    targets = [_target(s) for s in splits[split]]
    others = {source_key(s.source) for s in samples} - {source_key(t.source) for t in targets}
    usual = median_crop([_target(s) for s in splits["train"]])
    result = _evaluate(targets, predictions, usual, split, seed, others)
    _check_matched(result, len(targets))
    return result


def _check_matched(result: EvaluationResult, n_targets: int) -> None:
    if result.comparisons:
        return
    n_pred = len(result.unmatched_predictions) + result.outside_split
    example = ""
    if result.unmatched_predictions and result.unmatched_samples:
        example = (
            f" (e.g. prediction {result.unmatched_predictions[0]!r}, "
            f"sample {result.unmatched_samples[0]!r})"
        )
    where = "" if result.split == "all" else f" in split {result.split}"
    raise EvaluationError(
        f"nothing matched: none of {n_pred} prediction(s) names the source of one of "
        f"{n_targets} manifest sample(s){where}{example}; predict on the photos the data "
        "set was scanned from"
    )


def _evaluate(
    targets: list[Target],
    predictions: Sequence[Prediction | Mapping[str, Any]],
    usual: Crop | None,
    split: str,
    seed: int | None,
    other_sources: set[str] | None = None,
) -> EvaluationResult:
    other_sources = other_sources or set()
    by_source: dict[str, list[Target]] = {}
    for t in targets:
        by_source.setdefault(source_key(t.source), []).append(t)
    if usual is None:
        usual = median_crop(targets)
    full = Crop.full_frame()

    seen: set[str] = set()
    comparisons: list[Comparison] = []
    base: dict[str, list[list[float]]] = {"full": [[], [], []], "usual": [[], [], []]}
    unmatched: list[str] = []
    skipped: list[tuple[str, str]] = []
    duplicates: list[str] = []
    mismatched: list[str] = []
    outside = 0
    for item in predictions:
        pred = _prediction(item)
        key = source_key(pred.source)
        if pred.crop is None:
            skipped.append((pred.source, pred.reason))
            continue
        if key in seen:
            duplicates.append(pred.source)
            continue
        seen.add(key)
        if key not in by_source:
            if key in other_sources:
                outside += 1
            else:
                unmatched.append(pred.source)
            continue
        for t in by_source[key]:
            if _aspect_differs(pred, t):
                mismatched.append(pred.source)
            iou, bde, ang = score(pred.crop, t.crop, t.width, t.height)
            comparisons.append(
                Comparison(
                    t.source, t.width, t.height, t.crop, pred.crop, iou, bde, ang, pred.confidence
                )
            )
            for name, crop in (("full", full), ("usual", usual)):
                for values, v in zip(
                    base[name], score(crop, t.crop, t.width, t.height), strict=True
                ):
                    values.append(v)
    unmatched_samples = [t.source for t in targets if source_key(t.source) not in seen]
    return EvaluationResult(
        model=Scores.of(
            [c.iou for c in comparisons],
            [c.bde for c in comparisons],
            [c.angle_error_deg for c in comparisons],
        ),
        full_frame=Scores.of(*base["full"]),
        usual_crop=Scores.of(*base["usual"]),
        usual=usual,
        comparisons=comparisons,
        matched_photos=len({source_key(c.source) for c in comparisons}),
        unmatched_predictions=unmatched,
        unmatched_samples=unmatched_samples,
        skipped_predictions=skipped,
        duplicate_predictions=duplicates,
        size_mismatches=sorted(set(mismatched)),
        split=split,
        split_seed=seed,
        outside_split=outside,
    )


def _aspect_differs(pred: Prediction, target: Target) -> bool:
    a = pred.width / pred.height
    b = target.width / target.height
    return abs(a - b) > SIZE_TOLERANCE * b
