"""Reading the inputs of ``evaluate``, ``report`` and ``stats``: predictions and manifests.

A predictions file is what ``python predict.py`` writes (docs/interfaces.md): one JSON
object per line, ``{"source", "width", "height", "crop", "corners"}`` plus possibly
``"confidence"``. A line that names a ``source`` with a ``"reason"``, ``"error"`` or
``"skipped"`` but no ``crop`` is a photo the predictor could not read; it is kept as a
:class:`PredictionRecord` whose ``crop`` is None, so that reports can list it.

A record may also say whether to crop at all: ``"p_crop"`` (0..1) and
``"leave_uncropped": true``; :func:`read_suggestions` reads them with the record
(a :class:`Suggestion`).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cropperhead.data.manifest import MANIFEST_NAME, DatasetError, Sample, read_manifest
from cropperhead.errors import one_line
from cropperhead.geometry import Crop

_SKIP_KEYS = ("reason", "error", "skipped")


class ReportError(ValueError):
    """A wrong input to evaluate/report/stats, with a one-line message for the user."""


@dataclass(frozen=True)
class PredictionRecord:
    """One line of a predictions file (what the model said, as read back for reports).

    Attributes:
        source: the photo, as written (an absolute path).
        width: display width W' of the photo, or 0 for a skipped photo.
        height: display height H' of the photo, or 0 for a skipped photo.
        crop: the suggested display-frame crop; None for a photo the predictor skipped.
        confidence: the model's confidence when it gave one.
        reason: why the predictor skipped the photo (``crop`` is None), else ``""``.
        line: the line number in the file (1-based; 0 when not read from a file).
    """

    source: str
    width: int
    height: int
    crop: Crop | None
    confidence: float | None = None
    reason: str = ""
    line: int = 0


def source_key(source: str | os.PathLike[str]) -> str:
    """The form of a ``source`` path that predictions and manifest rows are matched on.

    Paths are compared as written, after :func:`os.path.normpath` (``a//b/./c`` is
    ``a/b/c``); nothing is looked up on disk, so reports work on another machine.
    """
    return os.path.normpath(os.fspath(source))


def prediction_from_dict(row: Mapping[str, Any], line: int = 0) -> PredictionRecord:
    """Build a :class:`PredictionRecord` from one decoded JSON object.

    Args:
        row: ``{"source", "width", "height", "crop", ...}`` (or a skip record).
        line: the line number, kept for messages.

    Returns:
        The prediction.

    Raises:
        ValueError: a key is missing or a value is out of range (the message says which).
    """
    if not isinstance(row, Mapping):
        raise ValueError(f"expected a JSON object, got {type(row).__name__}")
    source = row.get("source")
    if not isinstance(source, str) or not source:
        raise ValueError(f"'source' must be a non-empty string, got {source!r}")
    if row.get("crop") is None:
        reasons = [str(row[k]) for k in _SKIP_KEYS if row.get(k) not in (None, "", False)]
        if reasons:
            return PredictionRecord(source, 0, 0, None, reason="; ".join(reasons), line=line)
        raise ValueError("no 'crop'")
    width, height = _size(row.get("width"), "width"), _size(row.get("height"), "height")
    crop_record = row["crop"]
    if not isinstance(crop_record, Mapping):
        raise ValueError(f"'crop' must be an object, got {crop_record!r}")
    crop = Crop.from_dict(crop_record)
    confidence = row.get("confidence")
    if confidence is not None:
        if isinstance(confidence, bool) or not isinstance(confidence, (int, float)):
            raise ValueError(f"'confidence' must be a number, got {confidence!r}")
        if not math.isfinite(confidence):
            raise ValueError(f"'confidence' must be finite, got {confidence!r}")
        confidence = float(confidence)
    return PredictionRecord(source, width, height, crop, confidence, line=line)


def _size(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise ValueError(f"'{name}' must be a whole number of pixels, got {value!r}")
    if value <= 0:
        raise ValueError(f"'{name}' must be positive, got {value!r}")
    return int(value)


def read_predictions(path: Path | str) -> list[PredictionRecord]:
    """Read a predictions JSONL file (blank lines are ignored).

    Args:
        path: the file ``python predict.py`` wrote.

    Returns:
        The predictions in file order.

    Raises:
        ReportError: the file is missing or unreadable, or a line is malformed (the
            message names the file and the line number).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ReportError(f"no predictions file at {path}")
    predictions: list[PredictionRecord] = []
    try:
        with path.open(encoding="utf-8") as fh:
            for number, text in enumerate(fh, 1):
                if not text.strip():
                    continue
                try:
                    predictions.append(prediction_from_dict(json.loads(text), number))
                except (ValueError, TypeError, KeyError) as exc:
                    reason = one_line(exc)
                    raise ReportError(f"{path}:{number}: malformed prediction ({reason})") from exc
    except UnicodeDecodeError as exc:
        raise ReportError(f"{path}: not a UTF-8 text file ({exc.reason})") from exc
    except OSError as exc:
        raise ReportError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return predictions


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

    prediction: PredictionRecord
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
        ReportError: what :func:`read_predictions` raises, or a bad ``p_crop`` /
            ``leave_uncropped`` (naming the line).
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
            reason = one_line(exc)
            raise ReportError(f"{path}:{pred.line}: malformed prediction ({reason})") from exc
        suggestions.append(Suggestion(pred, decision))
    return suggestions


def load_samples(manifest: Path | str) -> list[Sample]:
    """Read a data set's samples from ``DATASET_DIR`` or ``DATASET_DIR/manifest.jsonl``.

    Uses :func:`cropperhead.data.manifest.read_manifest`.

    Raises:
        ReportError: the path is neither, the manifest is missing or empty, or a line is
            malformed (the message names the line).
    """
    path = Path(manifest).expanduser()
    if path.is_dir():
        root = path
    elif path.name == MANIFEST_NAME or not path.exists():
        root = path.parent if path.name == MANIFEST_NAME else path
    else:
        raise ReportError(f"{path} is neither a data set folder nor its {MANIFEST_NAME}")
    if not (root / MANIFEST_NAME).is_file():
        raise ReportError(
            f"no manifest at {root / MANIFEST_NAME}: pass the --out folder of "
            "`cropperhead scan` or its manifest.jsonl"
        )
    try:
        return read_manifest(root)
    except DatasetError as exc:
        raise ReportError(one_line(exc)) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"cannot read {root / MANIFEST_NAME}: {one_line(exc)}") from exc
