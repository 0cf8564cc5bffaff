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

- aspect accuracy: the share of samples whose crop has the photographer's aspect
  (the output picture's width / height in display pixels, the sides of a turned crop,
  not its bounding box) within :data:`ASPECT_TOLERANCE`, relative.

The same samples are scored for two baselines: the full frame (no crop at all) and
"my usual crop", the median of each crop coordinate over the manifest
(:func:`cropperhead.data.dataset.usual_crop`; over the training split when a split is
evaluated, as training computes it), or over the training split of another data set
(:func:`training_usual_crop`: the library a model was trained on, since the evaluated
photos' own median would know their crops).

Crop or leave: a prediction record may carry ``"p_crop"`` (0..1) and
``"leave_uncropped": true`` (the model says the photographer would not crop this
photo; a record without the key is a crop). Such a record is scored with its
*effective* crop, the full frame where it says leave. A sample whose label is the full
frame ``{0, 0, 1, 1, 0}`` counts as left uncropped by the photographer. When any matched
record carries either key, the decision "crop" is scored too: accuracy, precision and
recall, for the model and for the baselines (the full frame never crops; the usual crop
always does, unless it is the full frame).

Confidence: when records carry ``"confidence"``, the Spearman rank correlation between
confidence and IoU over those samples (ties get their average rank): how well the
confidence sorts good suggestions from bad ones.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cropperhead.geometry import (
    Crop,
    angle_error_deg,
    boundary_displacement_error,
    crop_output_size_px,
    rotated_iou,
)
from cropperhead.report.predictions import (
    Prediction,
    ReportError,
    prediction_from_dict,
    read_predictions,
    source_key,
)

if TYPE_CHECKING:
    from cropperhead.data.manifest import Sample

#: A suggestion "gets it right" above this IoU.
IOU_THRESHOLD = 0.8
#: Relative aspect difference above which a prediction's W' x H' disagrees with the manifest.
SIZE_TOLERANCE = 0.01
#: Relative difference under which a crop's aspect counts as the photographer's.
ASPECT_TOLERANCE = 0.01
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
class CropDecision:
    """What a prediction record says about cropping the photo at all.

    Attributes:
        p_crop: the record's ``"p_crop"`` (0..1), None when it has none.
        leave_uncropped: the record's ``"leave_uncropped"`` (False when absent).
        given: the record carries ``"p_crop"`` or ``"leave_uncropped"``.
    """

    p_crop: float | None = None
    leave_uncropped: bool = False
    given: bool = False


@dataclass(frozen=True)
class Suggestion:
    """A prediction record together with its crop-or-leave decision.

    Attributes:
        prediction: the record's crop, size and confidence.
        decision: its ``p_crop`` / ``leave_uncropped``.
    """

    prediction: Prediction
    decision: CropDecision = CropDecision()


def crop_decision_from_dict(row: Mapping[str, Any]) -> CropDecision:
    """Read ``"p_crop"`` and ``"leave_uncropped"`` from one prediction record.

    Args:
        row: a decoded predictions.jsonl object.

    Returns:
        The decision; ``given`` is False when the record has neither key.

    Raises:
        ValueError: ``p_crop`` is not a number in [0, 1], or ``leave_uncropped`` is not
            a JSON boolean (the message quotes the value).
    """
    p_crop = row.get("p_crop")
    leave = row.get("leave_uncropped")
    if p_crop is not None:
        if isinstance(p_crop, bool) or not isinstance(p_crop, (int, float)):
            raise ValueError(f"'p_crop' must be a number in [0, 1], got {p_crop!r}")
        if not (math.isfinite(p_crop) and 0 <= p_crop <= 1):
            raise ValueError(f"'p_crop' must be a number in [0, 1], got {p_crop!r}")
        p_crop = float(p_crop)
    if leave is not None and not isinstance(leave, bool):
        raise ValueError(f"'leave_uncropped' must be true or false, got {leave!r}")
    return CropDecision(p_crop, bool(leave), p_crop is not None or leave is not None)


def read_suggestions(path: Path | str) -> list[Suggestion]:
    """Read a predictions file with each record's crop-or-leave decision.

    Args:
        path: the file ``python predict.py`` wrote.

    Returns:
        One :class:`Suggestion` per record, in file order.

    Raises:
        ReportError: what :func:`~cropperhead.report.predictions.read_predictions`
            raises, or a bad ``p_crop`` / ``leave_uncropped`` (naming the line).
    """
    predictions = read_predictions(path)
    path = Path(path).expanduser()
    try:
        # Split the way read_predictions does (file iteration), so line numbers agree.
        with path.open(encoding="utf-8") as fh:
            lines = list(fh)
    except (OSError, UnicodeDecodeError) as exc:  # read a moment ago; gone or changed since
        raise ReportError(f"cannot read {path}: {exc}") from exc
    suggestions: list[Suggestion] = []
    for pred in predictions:
        try:
            decision = crop_decision_from_dict(json.loads(lines[pred.line - 1]))
        except (ValueError, IndexError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ReportError(f"{path}:{pred.line}: malformed prediction ({reason})") from exc
        suggestions.append(Suggestion(pred, decision))
    return suggestions


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
        return {k: _json_number(v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Comparison:
    """One prediction against one manifest sample of the same photo.

    Attributes:
        source: the photo.
        width: display width W' used for the IoU (the manifest's).
        height: display height H' used for the IoU.
        target: the photographer's crop.
        predicted: the crop scored: the suggested crop, or the full frame where the
            record says ``leave_uncropped``.
        iou: rotated IoU of the two.
        bde: boundary displacement error.
        angle_error_deg: absolute angle difference in degrees.
        confidence: the prediction's confidence, when it has one.
        aspect_match: the predicted crop's aspect is the target's (see
            :func:`aspects_match`).
        p_crop: the record's ``p_crop``, when it has one.
        leave_uncropped: the record says the photographer would leave the photo alone.
        suggested: the record's own crop where it differs from ``predicted`` (a
            ``leave_uncropped`` record), else None.
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
    aspect_match: bool = False
    p_crop: float | None = None
    leave_uncropped: bool = False
    suggested: Crop | None = None

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
            "aspect_match": self.aspect_match,
            "p_crop": self.p_crop,
            "leave_uncropped": self.leave_uncropped,
            "suggested": None if self.suggested is None else self.suggested.to_dict(),
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
        decisions_scored: some matched record carries ``p_crop`` or ``leave_uncropped``,
            so the ``crop_*`` scores are filled in.
        left_uncropped: matched samples whose label is the full frame.
        confidence_spearman: Spearman rank correlation of confidence and IoU over the
            samples whose prediction has a confidence (NaN for fewer than two, or when
            either side is constant).
        confidence_count: samples whose prediction has a confidence.
        usual_from: where the usual crop came from, e.g. ``"training split of DS"``;
            ``""`` for the evaluated manifest itself.
        usual_samples: samples the usual crop is the median of (0 when given directly).
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
    decisions_scored: bool = False
    left_uncropped: int = 0
    confidence_spearman: float = math.nan
    confidence_count: int = 0
    usual_from: str = ""
    usual_samples: int = 0

    @property
    def matched_samples(self) -> int:
        """Samples scored (one per comparison)."""
        return len(self.comparisons)

    def to_dict(self) -> dict[str, Any]:
        """Everything as a JSON-ready dict (what ``cropperhead evaluate --json`` prints)."""
        decision = None
        if self.decisions_scored:
            decision = {
                "samples": self.matched_samples,
                "left_uncropped": self.left_uncropped,
                **{
                    name: {
                        "accuracy": _json_number(s.crop_accuracy),
                        "precision": _json_number(s.crop_precision),
                        "recall": _json_number(s.crop_recall),
                    }
                    for name, s in (
                        ("model", self.model),
                        ("full_frame", self.full_frame),
                        ("usual_crop", self.usual_crop),
                    )
                },
            }
        confidence = None
        if self.confidence_count:
            confidence = {
                "samples": self.confidence_count,
                "spearman_iou": _json_number(self.confidence_spearman),
            }
        return {
            "split": self.split,
            "split_seed": self.split_seed,
            "iou_threshold": IOU_THRESHOLD,
            "aspect_tolerance": ASPECT_TOLERANCE,
            "matched_samples": self.matched_samples,
            "matched_photos": self.matched_photos,
            "model": self.model.to_dict(),
            "baselines": {
                "full_frame": self.full_frame.to_dict(),
                "usual_crop": self.usual_crop.to_dict(),
            },
            "usual_crop": self.usual.to_dict(),
            "usual_crop_from": self.usual_from or None,
            "usual_crop_samples": self.usual_samples,
            "crop_decision": decision,
            "confidence": confidence,
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
            f"{'':<21}{'mean IoU':>9}{'median IoU':>12}{above:>9}{'BDE':>8}{'angle MAE':>11}"
            f"{'aspect':>8}",
        ]
        for name, s in rows:
            lines.append(
                f"{name:<21}{_fmt(s.iou_mean, '.3f'):>9}{_fmt(s.iou_median, '.3f'):>12}"
                f"{_fmt(100 * s.iou_above, '.1f', '%'):>9}{_fmt(s.bde_mean, '.4f'):>8}"
                f"{_fmt(s.angle_mae_deg, '.2f', ' deg'):>11}"
                f"{_fmt(100 * s.aspect_accuracy, '.1f', '%'):>8}"
            )
        lines.append("")
        lines.append(
            f"aspect: share of crops with the photographer's aspect (within "
            f"{100 * ASPECT_TOLERANCE:g}%)"
        )
        if self.usual_from:
            lines.append(f"usual crop: median of {self.usual_samples} sample(s), {self.usual_from}")
        if self.decisions_scored:
            lines.append("")
            lines.append(
                f"crop or leave: {self.left_uncropped} of {self.matched_samples} sample(s) "
                "left uncropped by the photographer"
            )
            lines.append(f"{'':<21}{'accuracy':>9}{'precision':>11}{'recall':>8}")
            for name, s in rows:
                lines.append(
                    f"{name:<21}{_fmt(100 * s.crop_accuracy, '.1f', '%'):>9}"
                    f"{_fmt(100 * s.crop_precision, '.1f', '%'):>11}"
                    f"{_fmt(100 * s.crop_recall, '.1f', '%'):>8}"
                )
        if self.confidence_count:
            lines.append("")
            lines.append(
                f"confidence vs IoU: Spearman rank correlation "
                f"{_fmt(self.confidence_spearman, '.3f')} over {self.confidence_count} "
                "sample(s)"
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


def _suggestion(item: Suggestion | Prediction | Mapping[str, Any]) -> Suggestion:
    if isinstance(item, Suggestion):
        return item
    if isinstance(item, Prediction):
        return Suggestion(item)
    return Suggestion(prediction_from_dict(item), crop_decision_from_dict(item))


def median_crop(targets: Sequence[Target]) -> Crop:
    """The "my usual crop" baseline: the median of each coordinate (full frame if none)."""
    from cropperhead.data.manifest import usual_crop

    return Crop(*usual_crop(targets))  # usual_crop only reads ``.crop``


def training_usual_crop(
    samples: Sequence[Sample],
    seed: int = 42,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
) -> tuple[Crop, int]:
    """The usual crop of a training library: the median over its training split.

    This is the baseline a model trained on that library has to beat on other photos,
    split as a training run with ``seed`` splits it
    (:func:`cropperhead.data.datamodule.split_samples`).

    Args:
        samples: every sample of the training library's data set.
        seed: the training run's ``seed``.
        val_fraction: the training run's ``data.val_fraction``.
        test_fraction: the training run's ``data.test_fraction``.

    Returns:
        ``(median crop, number of training samples)``.

    Raises:
        ValueError: bad fractions, or a data set whose training split is empty.
    """
    from cropperhead.data.datamodule import split_samples

    train = split_samples(list(samples), seed, val_fraction, test_fraction)["train"]
    if not train:
        raise ValueError(
            f"no training samples to take the usual crop from ({len(samples)} sample(s), "
            f"split seed {seed})"
        )
    return median_crop([_target(s) for s in train]), len(train)


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


Predictions = Sequence[Suggestion | Prediction | Mapping[str, Any]]


def match(
    manifest_rows: Sequence[Sample | Mapping[str, Any]], predictions: Predictions
) -> EvaluationResult:
    """Match predictions to samples and score them; never raises for "nothing matched".

    This is :func:`evaluate` for callers (the HTML report) that can do without a match;
    see there for the arguments. With no match, the scores are NaN.
    """
    return _evaluate([_target(r) for r in manifest_rows], predictions, None, "all", None)


def evaluate(
    manifest_rows: Sequence[Sample | Mapping[str, Any]],
    predictions: Predictions,
    usual: Crop | None = None,
    usual_from: str = "",
    usual_samples: int = 0,
) -> EvaluationResult:
    """Score predictions against the photographer's crops, next to two baselines.

    Args:
        manifest_rows: the samples, as :class:`~cropperhead.data.dataset.Sample` (what
            ``read_manifest`` returns) or manifest.jsonl dicts (``source``, ``width``,
            ``height``, ``crop``).
        predictions: :class:`Suggestion` (what :func:`read_suggestions` returns),
            :class:`~cropperhead.report.predictions.Prediction` (no crop-or-leave
            decision) or predictions.jsonl dicts (``source``, ``width``, ``height``,
            ``crop``, optional ``confidence``, ``p_crop``, ``leave_uncropped``).
        usual: the "my usual crop" baseline; default the median crop of ``manifest_rows``.
        usual_from: where ``usual`` came from, for the report (e.g. ``"training split of
            DS"``).
        usual_samples: how many samples ``usual`` is the median of, for the report.

    Returns:
        The scores and the bookkeeping of what did not match.

    Raises:
        EvaluationError: no prediction matched any sample.
        ValueError: a row or prediction is malformed.
    """
    targets = [_target(r) for r in manifest_rows]
    result = _evaluate(
        targets, predictions, usual, "all", None, usual_from=usual_from, usual_samples=usual_samples
    )
    _check_matched(result, len(targets))
    return result


def evaluate_split(
    samples: Sequence[Sample],
    predictions: Predictions,
    split: str,
    seed: int = 42,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    usual: Crop | None = None,
    usual_from: str = "",
    usual_samples: int = 0,
) -> EvaluationResult:
    """:func:`evaluate` on one split of the data set, exactly as training splits it.

    The split is :func:`cropperhead.data.datamodule.split_samples` (by source photo, a
    hash of the seed); the usual-crop baseline is the median of the *training* split,
    as the training run computes it, unless ``usual`` is given. Predictions of photos
    in other splits are counted in ``outside_split`` and otherwise ignored.

    Args:
        samples: every sample of the data set.
        predictions: as for :func:`evaluate`.
        split: ``all``, ``train``, ``val`` or ``test``.
        seed: the training run's ``seed`` (default 42, as conf/train.yaml).
        val_fraction: the training run's ``data.val_fraction``.
        test_fraction: the training run's ``data.test_fraction``.
        usual: the usual-crop baseline to use instead (e.g. :func:`training_usual_crop`
            of another data set).
        usual_from: where ``usual`` came from, for the report.
        usual_samples: how many samples ``usual`` is the median of.

    Raises:
        EvaluationError: no prediction matched a sample of the split.
        ValueError: an unknown split or bad fractions.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if split == "all":
        return evaluate(samples, predictions, usual, usual_from, usual_samples)
    from cropperhead.data.datamodule import split_samples

    splits = split_samples(list(samples), seed, val_fraction, test_fraction)
    targets = [_target(s) for s in splits[split]]
    others = {source_key(s.source) for s in samples} - {source_key(t.source) for t in targets}
    if usual is None:
        usual = median_crop([_target(s) for s in splits["train"]])
        usual_samples = len(splits["train"])
    result = _evaluate(targets, predictions, usual, split, seed, others, usual_from, usual_samples)
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
    predictions: Predictions,
    usual: Crop | None,
    split: str,
    seed: int | None,
    other_sources: set[str] | None = None,
    usual_from: str = "",
    usual_samples: int = 0,
) -> EvaluationResult:
    other_sources = other_sources or set()
    by_source: dict[str, list[Target]] = {}
    for t in targets:
        by_source.setdefault(source_key(t.source), []).append(t)
    if usual is None:
        usual, usual_from, usual_samples = median_crop(targets), "", len(targets)
    full = Crop.full_frame()

    seen: set[str] = set()
    comparisons: list[Comparison] = []
    # Per baseline: IoU, BDE, angle error and aspect match of each sample.
    base: dict[str, list[list[Any]]] = {"full": [[], [], [], []], "usual": [[], [], [], []]}
    decided = False
    unmatched: list[str] = []
    skipped: list[tuple[str, str]] = []
    duplicates: list[str] = []
    mismatched: list[str] = []
    outside = 0
    for item in predictions:
        suggestion = _suggestion(item)
        pred, decision = suggestion.prediction, suggestion.decision
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
        decided = decided or decision.given
        effective = full if decision.leave_uncropped else pred.crop
        for t in by_source[key]:
            if _aspect_differs(pred, t):
                mismatched.append(pred.source)
            iou, bde, ang = score(effective, t.crop, t.width, t.height)
            comparisons.append(
                Comparison(
                    t.source,
                    t.width,
                    t.height,
                    t.crop,
                    effective,
                    iou,
                    bde,
                    ang,
                    pred.confidence,
                    aspect_match=aspects_match(effective, t.crop, t.width, t.height),
                    p_crop=decision.p_crop,
                    leave_uncropped=decision.leave_uncropped,
                    suggested=pred.crop if decision.leave_uncropped else None,
                )
            )
            for name, crop in (("full", full), ("usual", usual)):
                values = [*score(crop, t.crop, t.width, t.height)]
                values.append(aspects_match(crop, t.crop, t.width, t.height))
                for column, v in zip(base[name], values, strict=True):
                    column.append(v)
    unmatched_samples = [t.source for t in targets if source_key(t.source) not in seen]
    truth = [not c.target.is_full_frame() for c in comparisons]
    decisions: dict[str, tuple[list[bool], list[bool]] | None] = dict.fromkeys(
        ("model", "full", "usual")
    )
    if decided:
        decisions["model"] = ([not c.leave_uncropped for c in comparisons], truth)
        decisions["full"] = ([False] * len(truth), truth)
        decisions["usual"] = ([not usual.is_full_frame()] * len(truth), truth)
    rated = [(c.confidence, c.iou) for c in comparisons if c.confidence is not None]
    return EvaluationResult(
        model=Scores.of(
            [c.iou for c in comparisons],
            [c.bde for c in comparisons],
            [c.angle_error_deg for c in comparisons],
            [c.aspect_match for c in comparisons],
            decisions["model"],
        ),
        full_frame=Scores.of(*base["full"], decisions["full"]),
        usual_crop=Scores.of(*base["usual"], decisions["usual"]),
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
        decisions_scored=decided,
        left_uncropped=len(truth) - sum(truth),
        confidence_spearman=spearman_rank_correlation(*zip(*rated, strict=True))
        if rated
        else math.nan,
        confidence_count=len(rated),
        usual_from=usual_from,
        usual_samples=usual_samples,
    )


def _aspect_differs(pred: Prediction, target: Target) -> bool:
    a = pred.width / pred.height
    b = target.width / target.height
    return abs(a - b) > SIZE_TOLERANCE * b
