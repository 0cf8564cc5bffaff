"""Matching suggested crops to the photographer's own and scoring them, next to two baselines.

Predictions are matched to manifest samples by ``source`` (see
:func:`~cropperhead.report.predictions.source_key`). A photo with several samples
(Lightroom virtual copies) is compared against each of them, so the unit of every score
is one manifest sample. Each pair is scored in the display frame of its photo, ``W' x
H'`` pixels as the manifest records them (:mod:`cropperhead.report.scores`: rotated IoU,
boundary displacement error, angle error, aspect match).

The same samples are scored for the two baselines of :mod:`cropperhead.report.baselines`:
the full frame (no crop at all) and "my usual crop", the median of each crop coordinate
over the manifest (over its training split when a split is evaluated, as training
computes it), or over the training split of another data set
(:func:`~cropperhead.report.baselines.training_usual_crop`: the library a model was
trained on, since the evaluated photos' own median would know their crops).

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

The outcome, :class:`EvaluationResult`, prints as JSON or as a table
(:mod:`cropperhead.report.evaluate_output`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cropperhead.geometry import Crop
from cropperhead.report import evaluate_output
from cropperhead.report.baselines import (
    LIBRARY_TEST_FRACTION,
    LIBRARY_VAL_FRACTION,
    Target,
    median_crop,
    target_from_row,
)
from cropperhead.report.predictions import (
    PredictionRecord,
    ReportError,
    Suggestion,
    crop_decision_from_dict,
    prediction_from_dict,
    source_key,
)
from cropperhead.report.scores import Scores, aspects_match, score, spearman_rank_correlation

if TYPE_CHECKING:
    from cropperhead.data.manifest import Sample

#: Relative aspect difference above which a prediction's W' x H' disagrees with the manifest.
SIZE_TOLERANCE = 0.01
SPLITS = ("all", "train", "val", "test")


class EvaluationError(ReportError):
    """Nothing to evaluate (no prediction matched a sample), with a one-line message."""


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
        return evaluate_output.result_to_dict(self)

    def format_table(self) -> str:
        """A readable table: the model next to the baselines, then what did not match."""
        return evaluate_output.format_table(self)


def _suggestion(item: Suggestion | PredictionRecord | Mapping[str, Any]) -> Suggestion:
    if isinstance(item, Suggestion):
        return item
    if isinstance(item, PredictionRecord):
        return Suggestion(item)
    return Suggestion(prediction_from_dict(item), crop_decision_from_dict(item))


Predictions = Sequence[Suggestion | PredictionRecord | Mapping[str, Any]]


def match(
    manifest_rows: Sequence[Sample | Mapping[str, Any]], predictions: Predictions
) -> EvaluationResult:
    """Match predictions to samples and score them; never raises for "nothing matched".

    This is :func:`evaluate` for callers (the HTML report) that can do without a match;
    see there for the arguments. With no match, the scores are NaN.
    """
    return _evaluate([target_from_row(r) for r in manifest_rows], predictions, None, "all", None)


def evaluate(
    manifest_rows: Sequence[Sample | Mapping[str, Any]],
    predictions: Predictions,
    usual: Crop | None = None,
    usual_from: str = "",
    usual_samples: int = 0,
) -> EvaluationResult:
    """Score predictions against the photographer's crops, next to two baselines.

    Args:
        manifest_rows: the samples, as :class:`~cropperhead.data.manifest.Sample` (what
            ``read_manifest`` returns) or manifest.jsonl dicts (``source``, ``width``,
            ``height``, ``crop``).
        predictions: :class:`~cropperhead.report.predictions.Suggestion` (what
            :func:`~cropperhead.report.predictions.read_suggestions` returns),
            :class:`~cropperhead.report.predictions.PredictionRecord` (no crop-or-leave
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
    targets = [target_from_row(r) for r in manifest_rows]
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
    val_fraction: float = LIBRARY_VAL_FRACTION,
    test_fraction: float = LIBRARY_TEST_FRACTION,
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
        EvaluationError: the split holds no sample, or no prediction matched one.
        ValueError: an unknown split or bad fractions.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if split == "all":
        return evaluate(samples, predictions, usual, usual_from, usual_samples)
    from cropperhead.data.datamodule import split_samples

    splits = split_samples(list(samples), seed, val_fraction, test_fraction)
    if not splits[split] and samples:
        hint = (
            "data=library holds no test photos back (data.test_fraction=0): score --split "
            "val, or pass --test-fraction as the run had it"
            if split == "test" and test_fraction == 0
            else "pass the training run's --val-fraction and --test-fraction"
        )
        raise EvaluationError(
            f"split {split} is empty at val_fraction={val_fraction:g}, "
            f"test_fraction={test_fraction:g} ({len(samples)} sample(s)): {hint}"
        )
    targets = [target_from_row(s) for s in splits[split]]
    others = {source_key(s.source) for s in samples} - {source_key(t.source) for t in targets}
    if usual is None:
        usual = median_crop([target_from_row(s) for s in splits["train"]])
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


def _aspect_differs(pred: PredictionRecord, target: Target) -> bool:
    a = pred.width / pred.height
    b = target.width / target.height
    return abs(a - b) > SIZE_TOLERANCE * b
