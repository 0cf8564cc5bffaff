"""What ``cropperhead evaluate`` prints: an evaluation as JSON (``--json``) or as a table.

:meth:`EvaluationResult.to_dict <cropperhead.report.evaluate.EvaluationResult.to_dict>`
and :meth:`~cropperhead.report.evaluate.EvaluationResult.format_table` call these.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from cropperhead.report.scores import ASPECT_TOLERANCE, IOU_THRESHOLD, json_number

if TYPE_CHECKING:
    from cropperhead.report.evaluate import EvaluationResult


def result_to_dict(result: EvaluationResult) -> dict[str, Any]:
    """Everything as a JSON-ready dict (what ``cropperhead evaluate --json`` prints)."""
    decision = None
    if result.decisions_scored:
        decision = {
            "samples": result.matched_samples,
            "left_uncropped": result.left_uncropped,
            **{
                name: {
                    "accuracy": json_number(s.crop_accuracy),
                    "precision": json_number(s.crop_precision),
                    "recall": json_number(s.crop_recall),
                }
                for name, s in (
                    ("model", result.model),
                    ("full_frame", result.full_frame),
                    ("usual_crop", result.usual_crop),
                )
            },
        }
    confidence = None
    if result.confidence_count:
        confidence = {
            "samples": result.confidence_count,
            "spearman_iou": json_number(result.confidence_spearman),
        }
    return {
        "split": result.split,
        "split_seed": result.split_seed,
        "iou_threshold": IOU_THRESHOLD,
        "aspect_tolerance": ASPECT_TOLERANCE,
        "matched_samples": result.matched_samples,
        "matched_photos": result.matched_photos,
        "model": result.model.to_dict(),
        "baselines": {
            "full_frame": result.full_frame.to_dict(),
            "usual_crop": result.usual_crop.to_dict(),
        },
        "usual_crop": result.usual.to_dict(),
        "usual_crop_from": result.usual_from or None,
        "usual_crop_samples": result.usual_samples,
        "crop_decision": decision,
        "confidence": confidence,
        "unmatched_predictions": result.unmatched_predictions,
        "unmatched_samples": result.unmatched_samples,
        "skipped_predictions": [{"source": s, "reason": r} for s, r in result.skipped_predictions],
        "duplicate_predictions": result.duplicate_predictions,
        "size_mismatches": result.size_mismatches,
        "outside_split": result.outside_split,
        "per_sample": [c.to_dict() for c in result.comparisons],
    }


def format_table(result: EvaluationResult) -> str:
    """A readable table: the model next to the baselines, then what did not match."""
    head = f"{result.matched_samples} sample(s) of {result.matched_photos} photo(s) matched" + (
        f" (split {result.split}, seed {result.split_seed})" if result.split != "all" else ""
    )
    rows = [
        ("model", result.model),
        ("usual crop (median)", result.usual_crop),
        ("full frame", result.full_frame),
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
    if result.usual_from:
        lines.append(f"usual crop: median of {result.usual_samples} sample(s), {result.usual_from}")
    if result.decisions_scored:
        lines.append("")
        lines.append(
            f"crop or leave: {result.left_uncropped} of {result.matched_samples} sample(s) "
            "left uncropped by the photographer"
        )
        lines.append(f"{'':<21}{'accuracy':>9}{'precision':>11}{'recall':>8}")
        for name, s in rows:
            lines.append(
                f"{name:<21}{_fmt(100 * s.crop_accuracy, '.1f', '%'):>9}"
                f"{_fmt(100 * s.crop_precision, '.1f', '%'):>11}"
                f"{_fmt(100 * s.crop_recall, '.1f', '%'):>8}"
            )
    if result.confidence_count:
        lines.append("")
        lines.append(
            f"confidence vs IoU: Spearman rank correlation "
            f"{_fmt(result.confidence_spearman, '.3f')} over {result.confidence_count} "
            "sample(s)"
        )
    lines.append("")
    lines.append(
        f"unmatched: {len(result.unmatched_predictions)} prediction(s) (no manifest sample), "
        f"{len(result.unmatched_samples)} manifest sample(s) (no prediction)"
    )
    notes = [
        (result.skipped_predictions, "photo(s) the predictor skipped"),
        (result.duplicate_predictions, "photo(s) predicted more than once (first kept)"),
        (result.size_mismatches, "prediction(s) whose W'xH' disagrees with the manifest"),
    ]
    for items, text in notes:
        if items:
            first = items[0] if isinstance(items[0], str) else items[0][0]
            lines.append(f"{len(items)} {text}, e.g. {first}")
    if result.outside_split:
        lines.append(f"{result.outside_split} prediction(s) of photos in other splits ignored")
    return "\n".join(lines)


def _fmt(value: float, spec: str, unit: str = "") -> str:
    return "-" if math.isnan(value) else f"{value:{spec}}{unit}"
