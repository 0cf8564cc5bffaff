"""The predictions file: one record per predicted photo, as JSONL or CSV.

Each record, in input order (docs/interfaces.md)::

    {"source": "/abs/IMG_1.CR2", "width": 6000, "height": 4000,
     "crop": {"left": ..., "top": ..., "right": ..., "bottom": ..., "angle": ...},
     "corners": [[x, y] x 4],              # TL, TR, BR, BL, normalised by W', H'
     "orientation": 6,                     # EXIF orientation applied (stored -> display)
     "lightroom": {"CropLeft": ..., ..., "CropAngle": ..., "orientation": "BC"},
                                           # the crop as Lightroom stores it (plug-in)
     "confidence": 0.93,                   # mirror agreement (IoU), see predictor.py
     "model_crop": {...}, "aspect": "3:2", # aspect != free: the crop before the lock
     "xmp": {"action": "written", "files": [...], "detail": "..."}}  # write_xmp=true

``format=csv`` writes the same fields flat (``left``..``angle``, ``tl_x``..``bl_y``,
``model_left``.., ``xmp_action``, ``xmp_files``). The crop and corner values are rounded
as the scan's manifest rounds them (:mod:`cropperhead.data.manifest`); the corners are
clipped to [0, 1].
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from cropperhead import files
from cropperhead.data.manifest import corners_record, crop_record
from cropperhead.geometry import Crop, crop_output_size_px, crop_to_corners
from cropperhead.predict.aspect import parse_aspect
from cropperhead.predict.lightroom import lightroom_values
from cropperhead.predict.options import DEFAULT_CROP_THRESHOLD

if TYPE_CHECKING:  # torch loads on use
    from cropperhead.predict.options import PredictOptions
    from cropperhead.predict.predictor import Prediction
    from cropperhead.predict.writeback import WritebackResult

#: The crop's columns in a CSV row (and the keys of a record's ``crop``).
CROP_KEYS = ("left", "top", "right", "bottom", "angle")
#: The corners' columns in a CSV row.
CORNER_KEYS = ("tl_x", "tl_y", "tr_x", "tr_y", "br_x", "br_y", "bl_x", "bl_y")


def prediction_record(
    pred: Prediction,
    crop: Crop,
    aspect: str | None = None,
    writeback: WritebackResult | None = None,
    crop_threshold: float = DEFAULT_CROP_THRESHOLD,
) -> dict[str, Any]:
    """One output line (docs/interfaces.md plus the extra keys of the module docstring).

    Args:
        pred: the model's prediction.
        crop: the crop to report (the prediction, or its aspect-locked version).
        aspect: the ratio the crop was snapped to (``aspect=`` or the predicted class,
            ``free`` included), else None.
        writeback: the XMP outcome when ``write_xmp``.
        crop_threshold: below this ``p_crop`` the record says ``leave_uncropped``.
    """
    corners = crop_to_corners(crop, pred.width, pred.height) / (pred.width, pred.height)
    record: dict[str, Any] = {
        "source": str(pred.source),
        "width": int(pred.width),
        "height": int(pred.height),
        "crop": crop_record(crop),
        "corners": corners_record(corners, clip=True),
        "orientation": pred.orientation,
        "lightroom": lightroom_values(crop, pred.width, pred.height, pred.orientation),
    }
    confidence = suggestion_confidence(pred, crop_threshold)
    if confidence is not None:
        record["confidence"] = round(float(confidence), 6)
    if pred.quality is not None and pred.confidence is not None:
        record["mirror_agreement"] = round(float(pred.confidence), 6)
    if pred.p_crop is not None:
        record["p_crop"] = round(float(pred.p_crop), 6)
        if pred.p_crop < crop_threshold:
            record["leave_uncropped"] = True
    if aspect is not None:
        record["aspect"] = aspect
        record["model_crop"] = crop_record(pred.crop)
    if writeback is not None:
        record["xmp"] = {
            "action": writeback.action,
            "files": [str(t) for t in writeback.targets],
            **({"reason": writeback.reason} if writeback.reason else {}),
            **({"detail": writeback.detail} if writeback.detail else {}),
        }
    return record


def suggestion_confidence(pred: Prediction, crop_threshold: float) -> float | None:
    """How right the suggestion the record makes is likely to be: its expected IoU.

    The quality head estimates the IoU of the model's crop, learnt on the photos the
    photographer cropped. Where the model also learns whether they crop at all, what a
    record suggests is the crop or, under ``crop_threshold``, the full frame; so the
    confidence weighs both outcomes by ``p_crop``. The full frame and a crop overlap by
    the crop's share of the photo, which stands in for the photographer's crop when the
    suggestion is to leave the photo (a photo left alone that should have been cropped
    scores what the full frame shares with that crop). Without ``p_crop`` (or with
    ``p_crop`` 1) it is the quality score; without a quality head, the mirror agreement.
    """
    if pred.quality is None:
        return pred.confidence
    if pred.p_crop is None:
        return pred.quality
    p = min(max(float(pred.p_crop), 0.0), 1.0)
    share = crop_area_share(pred.crop, pred.width, pred.height)
    if p < crop_threshold:
        return p * share + (1 - p)
    return p * float(pred.quality) + (1 - p) * share


def crop_area_share(crop: Crop, width: float, height: float) -> float:
    """The crop's area over the photo's: its IoU with the full frame (it lies inside)."""
    out_w, out_h = crop_output_size_px(crop, width, height)
    return min(max(out_w * out_h / (float(width) * float(height)), 0.0), 1.0)


def flat_record(record: dict[str, Any]) -> dict[str, Any]:
    """A JSONL record as one CSV row."""
    row: dict[str, Any] = {
        "source": record["source"],
        "width": record["width"],
        "height": record["height"],
    }
    row.update({k: record["crop"][k] for k in CROP_KEYS})
    row.update(dict(zip(CORNER_KEYS, [v for xy in record["corners"] for v in xy], strict=True)))
    row["orientation"] = record["orientation"]
    for key in ("confidence", "mirror_agreement", "p_crop"):
        if key in record:
            row[key] = record[key]
    if "p_crop" in record:
        row["leave_uncropped"] = bool(record.get("leave_uncropped", False))
    if "model_crop" in record:
        row["aspect"] = record["aspect"]
        row.update({f"model_{k}": record["model_crop"][k] for k in CROP_KEYS})
    if "xmp" in record:
        row["xmp_action"] = record["xmp"]["action"]
        row["xmp_files"] = ";".join(record["xmp"]["files"])
        row["xmp_detail"] = record["xmp"].get("detail", "")
    return row


def csv_columns(options: PredictOptions, confidence: bool, extras: bool = False) -> list[str]:
    """The CSV header for these options.

    Args:
        options: the run's options.
        confidence: whether records carry the mirror agreement.
        extras: whether the model predicts aspect classes, p_crop and quality.
    """
    columns = ["source", "width", "height", *CROP_KEYS, *CORNER_KEYS, "orientation"]
    if confidence or extras:
        columns.append("confidence")
    if confidence and extras:
        columns.append("mirror_agreement")
    if extras:
        columns += ["p_crop", "leave_uncropped"]
    spec = parse_aspect(options.aspect)
    if spec is not None and (spec != "auto" or extras):
        columns += ["aspect", *(f"model_{k}" for k in CROP_KEYS)]
    if options.write_xmp:
        columns += ["xmp_action", "xmp_files", "xmp_detail"]
    return columns


class RecordWriter:
    """Streams records to a JSONL or CSV file (flushed per record)."""

    def __init__(self, handle: TextIO, fmt: str, columns: Sequence[str]) -> None:
        self.handle = handle
        self.fmt = fmt
        self.csv = csv.DictWriter(handle, fieldnames=list(columns)) if fmt == "csv" else None
        if self.csv is not None:
            self.csv.writeheader()

    def write(self, record: dict[str, Any]) -> None:
        """Append one record."""
        if self.csv is not None:
            self.csv.writerow(flat_record(record))
        else:
            self.handle.write(json.dumps(record) + "\n")
        self.handle.flush()


def is_predictions_file(path: Path) -> bool:
    """Whether ``path`` holds predictions this command wrote (JSONL or CSV records)."""
    with files.open_regular(path) as handle:
        head = handle.read(65536).decode("utf-8", "replace")
    first = head.split("\n", 1)[0].strip()
    if first.startswith("{"):
        try:
            record = json.loads(first)
        except json.JSONDecodeError:
            return False
        return isinstance(record, dict) and {"source", "crop", "width", "height"} <= set(record)
    return first.startswith(",".join(["source", "width", "height", *CROP_KEYS]))


__all__ = [
    "CORNER_KEYS",
    "CROP_KEYS",
    "RecordWriter",
    "csv_columns",
    "flat_record",
    "is_predictions_file",
    "prediction_record",
]
