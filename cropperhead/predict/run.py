"""``python predict.py``'s body: find the photos, predict, write JSONL/CSV and XMP, summarise.

    python predict.py ckpt_path=CKPT input=PATH [output=PRED.jsonl] [format=jsonl|csv]
        [write_xmp=true] [xmp_target=auto|stem|name|both] [overwrite=false] [dry_run=false]
        [aspect=free|original|3:2|2:3|4:5|5:4|1:1|16:9|W:H] [device=auto] [batch_size=N]
        [num_workers=N] [confidence=auto|true|false] [report=false]

``input_list=FILE.json`` (a JSON array of photo paths) adds photos without a command
line (the Lightroom plug-in's way); ``orientations=FILE.json`` (``{"/abs/photo": 1..8}``)
predicts those photos under that EXIF orientation instead of their own (as Lightroom
shows a photo turned there).

``input`` is a photo, a folder (walked recursively like ``cropperhead scan``: RAW files
included, hidden folders skipped, symbolic links followed once) or a glob
(``'~/Pictures/2024-*/*.CR2'``, ``**`` recursive; quote it for the shell); a list
(``input=[a,b]``) combines them. ``output`` defaults to ``predictions.jsonl`` (or
``.csv``) in Hydra's run folder, ``logs/predict/runs/<date>_<time>/``.

Output, one record per predicted photo, in input order (docs/interfaces.md)::

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
``model_left``.., ``xmp_action``, ``xmp_files``). Photos that cannot be read are
skipped with a warning and counted in the closing summary; the exit status stays 0.
Problems that stop the run before it starts (missing or unusable checkpoint, no photos
found, bad option values, an output path that is an input photo or an existing file
that is not an earlier output: ``overwrite_output=true`` replaces the latter) print one
line to stderr and exit with status 2. A predictions file that cannot be written (a full
disk) and sidecars that could not be written end the run with one line and status 1;
Ctrl-C keeps the records predicted so far and exits with 130.
"""

from __future__ import annotations

import csv
import glob
import json
import logging
import math
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import cropperhead.config  # noqa: F401  (registers the resolvers conf/ uses)
from cropperhead import files
from cropperhead.geometry import Crop, crop_to_corners
from cropperhead.geometry.aspect import class_aspect, crop_aspect
from cropperhead.metadata.types import UNSUPPORTED
from cropperhead.predict.aspect import parse_aspect, snap_crop_to_aspect
from cropperhead.predict.errors import ModelLoadError, PredictError, PredictOutputError
from cropperhead.predict.lightroom import lightroom_values
from cropperhead.predict.writeback import (
    KEPT,
    SKIPPED,
    WRITE_FAILED,
    WRITTEN,
    XMP_TARGETS,
    WritebackResult,
    write_crop,
)
from cropperhead.scan import walker

if TYPE_CHECKING:  # torch and Lightning load on use: option errors come back at once
    from cropperhead.predict.predictor import Prediction

logger = logging.getLogger(__name__)

FORMATS = ("jsonl", "csv")
#: Below this probability that the photographer crops a photo, nothing is suggested.
DEFAULT_CROP_THRESHOLD = 0.5
#: The scan's default ``--size`` (``predictor.DEFAULT_DECODE_SIZE``).
DEFAULT_DECODE_SIZE = 512
#: Digits kept in the crop and corner values (as the scan's manifest).
DIGITS = 9
_CROP_KEYS = ("left", "top", "right", "bottom", "angle")
_CORNER_KEYS = ("tl_x", "tl_y", "tr_x", "tr_y", "br_x", "br_y", "bl_x", "bl_y")


@dataclass
class PredictOptions:
    """Everything ``predict.py`` takes (conf/predict.yaml documents each key)."""

    ckpt_path: Path
    inputs: list[str]
    output: Path
    format: str = "jsonl"
    aspect: str = "auto"
    write_xmp: bool = False
    xmp_target: str = "auto"
    overwrite: bool = False
    dry_run: bool = False
    backup: bool = True
    device: str = "auto"
    batch_size: int | None = None
    num_workers: int | None = None
    decode_size: int = DEFAULT_DECODE_SIZE
    confidence: bool | None = None
    progress: bool = True
    report: bool = False
    report_path: Path | None = None
    manifest: Path | None = None
    overwrite_output: bool = False
    orientations: Path | None = None
    crop_threshold: float = DEFAULT_CROP_THRESHOLD

    @classmethod
    def from_config(cls, cfg: Any) -> PredictOptions:
        """Build from the composed conf/predict.yaml (a DictConfig or a dict).

        Raises:
            PredictError: a required value (``???``) is missing or an option does not
                resolve (e.g. a bad interpolation).
        """
        from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

        hints = {
            "ckpt_path": "a checkpoint from train.py or a model from `cropperhead export`",
            "input": "a photo, a folder or a glob",
        }

        def get(key: str, default: Any = None) -> Any:
            try:
                return cfg.get(key, default)
            except MissingMandatoryValue as exc:
                raise PredictError(f"{key}= is required: {hints.get(key, 'give a value')}") from exc
            except OmegaConfBaseException as exc:
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise PredictError(f"{key}: {first}") from exc

        def path_or_none(value: Any) -> Path | None:
            return None if value in (None, "") else Path(str(value)).expanduser()

        input_list = path_or_none(get("input_list"))
        if input_list is not None:
            from cropperhead.predict.lightroom import read_photo_list

            try:
                listed = read_photo_list(input_list)
            except ValueError as exc:
                raise PredictError(str(exc)) from exc
            if not listed:
                raise PredictError(f"input_list {input_list}: the list holds no photos")
            try:
                raw_input = cfg.get("input", None)
            except OmegaConfBaseException:  # input=??? : the list alone
                raw_input = None
        else:
            listed, raw_input = [], get("input")
            if raw_input is None or (isinstance(raw_input, str) and not raw_input.strip()):
                raise PredictError(f"input= is required: {hints['input']}")
        inputs = (
            []
            if raw_input is None
            else ([raw_input] if isinstance(raw_input, (str, Path)) else list(raw_input))
        )
        inputs += listed
        fmt = str(get("format", "jsonl")).lower()
        output = get("output")
        ckpt = get("ckpt_path")
        if ckpt in (None, ""):
            raise PredictError(f"ckpt_path= is required: {hints['ckpt_path']}")
        return cls(
            ckpt_path=Path(str(ckpt)).expanduser(),
            inputs=[str(i) for i in inputs],
            output=Path(str(output)).expanduser() if output else Path(f"predictions.{fmt}"),
            format=fmt,
            aspect=str(get("aspect", "auto")),
            write_xmp=_flag(get("write_xmp", False), "write_xmp"),
            xmp_target=str(get("xmp_target", "auto")),
            overwrite=_flag(get("overwrite", False), "overwrite"),
            dry_run=_flag(get("dry_run", False), "dry_run"),
            backup=_flag(get("backup", True), "backup"),
            device=str(get("device", "auto")),
            batch_size=_whole(get("batch_size"), "batch_size"),
            num_workers=_whole(get("num_workers"), "num_workers"),
            decode_size=_whole(get("decode_size", DEFAULT_DECODE_SIZE), "decode_size"),
            confidence=_tristate(get("confidence", "auto"), "confidence"),
            progress=_flag(get("progress", True), "progress"),
            report=_flag(get("report", False), "report"),
            report_path=path_or_none(get("report_path")),
            manifest=path_or_none(get("manifest")),
            overwrite_output=_flag(get("overwrite_output", False), "overwrite_output"),
            orientations=path_or_none(get("orientations")),
            crop_threshold=_fraction(
                get("crop_threshold", DEFAULT_CROP_THRESHOLD), "crop_threshold"
            ),
        )

    def check(self) -> None:
        """Reject bad option values up front.

        Raises:
            PredictError: naming the option and its value.
        """
        if self.format not in FORMATS:
            raise PredictError(f"format must be jsonl or csv, got {self.format!r}")
        try:
            parse_aspect(self.aspect)
        except ValueError as exc:
            raise PredictError(str(exc)) from exc
        if self.xmp_target not in XMP_TARGETS:
            raise PredictError(
                f"xmp_target must be one of {', '.join(XMP_TARGETS)}, got {self.xmp_target!r}"
            )
        if self.batch_size is not None and self.batch_size < 1:
            raise PredictError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.num_workers is not None and self.num_workers < 0:
            raise PredictError(f"num_workers must be 0 or more, got {self.num_workers}")
        if self.decode_size < 1:
            raise PredictError(f"decode_size must be positive, got {self.decode_size}")
        if self.report and self.format != "jsonl":
            raise PredictError("report=true reads the JSONL predictions: use format=jsonl")
        if self.dry_run and not self.write_xmp:
            logger.info("dry_run=true only matters with write_xmp=true")


_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def _tristate(value: Any, name: str) -> bool | None:
    """``auto``/None -> None, booleans (and true/false text) -> bool."""
    if value is None or str(value).strip().lower() == "auto":
        return None
    try:
        return _flag(value, name)
    except PredictError:
        raise PredictError(f"{name} must be auto, true or false, got {value!r}") from None


def _flag(value: Any, name: str) -> bool:
    """A yes/no option, strictly: a typo (``write_xmp=ture``) is an error, never True.

    ``bool("flase")`` is True, which would write sidecars (or overwrite the
    photographer's crops) that nobody asked for.
    """
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise PredictError(f"{name} must be true or false, got {value!r}")


def _fraction(value: Any, name: str) -> float:
    """A number in [0, 1]; anything else is a one-line error."""
    try:
        number = float(str(value).strip())
    except ValueError:
        number = math.nan
    if isinstance(value, bool) or not 0 <= number <= 1:
        raise PredictError(f"{name} must be a number from 0 to 1, got {value!r}")
    return number


def _whole(value: Any, name: str) -> int | None:
    """A whole-number option (None stays None); anything else is a one-line error."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise PredictError(f"{name} must be a whole number, got {value!r}")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise PredictError(f"{name} must be a whole number, got {value!r}") from None
    return number


@dataclass
class PredictSummary:
    """What a run did."""

    output: Path
    model: str = ""
    device: str = ""
    predicted: int = 0
    skipped: Counter = field(default_factory=Counter)
    xmp: Counter = field(default_factory=Counter)
    dry_run: bool = False
    seconds: float = 0.0
    report: Path | None = None
    report_error: str | None = None
    interrupted: bool = False

    @property
    def write_failures(self) -> int:
        """Sidecars that could not be written."""
        return self.xmp.get(f"skipped {WRITE_FAILED}", 0)

    def format(self) -> str:
        """The closing summary, a few lines."""
        rate = self.predicted / self.seconds if self.seconds > 0 else 0.0
        lines = [
            f"predicted {self.predicted} photos in {self.seconds:.1f} s ({rate:.2f} photos/s) "
            f"with {self.model} on {self.device}",
        ]
        skipped = sum(self.skipped.values())
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(self.skipped.items()))
        lines.append(f"skipped {skipped}" + (f" ({reasons})" if reasons else ""))
        lines.append(f"predictions: {self.output}")
        if self.interrupted:
            lines.append("interrupted: the file holds the photos predicted until then")
        if self.xmp:
            parts = ", ".join(f"{k} {v}" for k, v in sorted(self.xmp.items()))
            suffix = " (dry run: nothing written)" if self.dry_run else ""
            lines.append(f"xmp: {parts}{suffix}")
        if self.report is not None:
            lines.append(f"report: {self.report}")
        if self.report_error is not None:
            lines.append(f"report: not written ({self.report_error})")
        return "\n".join(lines)


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Unsupported:
    """A file named by ``input=`` (or found by the walk) that is not a readable photo."""

    source: Path
    reason: str
    detail: str


def find_photos(inputs: Sequence[str | Path]) -> tuple[list[Path], list[Unsupported]]:
    """The photos named by ``input=``: files, folders (walked) and globs.

    Args:
        inputs: paths or glob patterns (``~`` expanded).

    Returns:
        ``(photos, unsupported)``: absolute photo paths without duplicates, in walk order
        (sorted per source), and skip records for files given or found that are not
        readable photos (``unsupported``).

    Raises:
        PredictError: a path that is neither an existing file/folder nor a matching glob.
    """
    sources: list[Path] = []
    for item in inputs:
        text = os.path.expanduser(str(item))
        if os.path.exists(text):
            sources.append(Path(text))
        elif glob.has_magic(text):
            matches = sorted(glob.glob(text, recursive=True))
            # A glob picks photos, sidecars and folders; other matching files are ignored.
            sources += [
                Path(m)
                for m in matches
                if os.path.isdir(m) or walker.is_photo(Path(m)) or walker.is_sidecar(Path(m))
            ]
        else:
            raise PredictError(f"input {item}: no such file or folder")
    if not sources:
        return [], []
    try:
        found = walker.walk_sources(sources)
    except FileNotFoundError as exc:
        raise PredictError(f"input: {exc}") from exc
    photos = list(dict.fromkeys(found.photos))
    unsupported = [
        Unsupported(path, UNSUPPORTED, f"not a photo format CropperHead reads ({path.suffix})")
        for path, _ in found.unsupported
    ]
    return photos, unsupported


# --------------------------------------------------------------------------- records


def _round(value: float) -> float:
    value = round(float(value), DIGITS)
    return 0.0 if value == 0 else value


def crop_record(crop: Crop) -> dict[str, float]:
    """The crop record with values rounded to 9 decimals."""
    return {k: _round(v) for k, v in crop.to_dict().items()}


def corners_record(crop: Crop, width: int, height: int) -> list[list[float]]:
    """TL, TR, BR, BL normalised by the display size, clipped to [0, 1]."""
    pts = crop_to_corners(crop, width, height) / (width, height)
    return [[_round(min(max(x, 0.0), 1.0)), _round(min(max(y, 0.0), 1.0))] for x, y in pts]


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
    record: dict[str, Any] = {
        "source": str(pred.source),
        "width": int(pred.width),
        "height": int(pred.height),
        "crop": crop_record(crop),
        "corners": corners_record(crop, pred.width, pred.height),
        "orientation": pred.orientation,
        "lightroom": lightroom_values(crop, pred.width, pred.height, pred.orientation),
    }
    confidence = pred.quality if pred.quality is not None else pred.confidence
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


def flat_record(record: dict[str, Any]) -> dict[str, Any]:
    """A JSONL record as one CSV row."""
    row: dict[str, Any] = {
        "source": record["source"],
        "width": record["width"],
        "height": record["height"],
    }
    row.update({k: record["crop"][k] for k in _CROP_KEYS})
    row.update(dict(zip(_CORNER_KEYS, [v for xy in record["corners"] for v in xy], strict=True)))
    row["orientation"] = record["orientation"]
    for key in ("confidence", "mirror_agreement", "p_crop"):
        if key in record:
            row[key] = record[key]
    if "p_crop" in record:
        row["leave_uncropped"] = bool(record.get("leave_uncropped", False))
    if "model_crop" in record:
        row["aspect"] = record["aspect"]
        row.update({f"model_{k}": record["model_crop"][k] for k in _CROP_KEYS})
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
    columns = ["source", "width", "height", *_CROP_KEYS, *_CORNER_KEYS, "orientation"]
    if confidence or extras:
        columns.append("confidence")
    if confidence and extras:
        columns.append("mirror_agreement")
    if extras:
        columns += ["p_crop", "leave_uncropped"]
    spec = parse_aspect(options.aspect)
    if spec is not None and (spec != "auto" or extras):
        columns += ["aspect", *(f"model_{k}" for k in _CROP_KEYS)]
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


# --------------------------------------------------------------------------- the run


def _report_writer() -> Callable[..., Path]:
    try:
        from cropperhead.report import write_report
    except ImportError as exc:
        raise PredictError(
            "report=true: the HTML report is not available in this CropperHead yet "
            f"(cropperhead.report.write_report: {exc}); run without report=true"
        ) from exc
    return write_report


def predict_to_file(options: PredictOptions, echo: Callable[[str], None] = print) -> PredictSummary:
    """Run a prediction: photos in, records (and XMP) out.

    Args:
        options: the run's options.
        echo: where the dry-run lines go (stdout for the command line).

    Returns:
        The summary.

    Raises:
        PredictError: bad options, no photos found.
        ModelLoadError: the checkpoint cannot be used.
    """
    options.check()
    write_report = _report_writer() if options.report else None
    ratio_spec = parse_aspect(options.aspect)
    if not options.ckpt_path.exists():
        raise ModelLoadError(f"no checkpoint at {options.ckpt_path}")
    photos, unsupported = find_photos(options.inputs)
    if not photos:
        extra = f" ({len(unsupported)} unsupported files)" if unsupported else ""
        raise PredictError(
            f"no photos found in {', '.join(map(str, options.inputs))}{extra}: give a photo, "
            "a folder or a glob of JPEG/TIFF/PNG/WebP/RAW files"
        )
    check_outputs(options, photos)
    orientations = None
    if options.orientations is not None:
        from cropperhead.predict.lightroom import read_orientations

        try:
            orientations = read_orientations(options.orientations)
        except ValueError as exc:
            raise PredictError(str(exc)) from exc
    from cropperhead.predict.models import load_crop_model
    from cropperhead.predict.predictor import Predictor, Skipped

    model = load_crop_model(options.ckpt_path, options.device)
    predictor = Predictor(
        model,
        batch_size=options.batch_size,
        num_workers=options.num_workers,
        confidence=options.confidence,
        decode_size=options.decode_size,
    )
    summary = PredictSummary(
        output=options.output.resolve(),
        model=model.info.describe(),
        device=model.providers[0] if hasattr(model, "providers") else model.device,
        dry_run=options.dry_run,
    )
    for skip in unsupported:
        logger.warning("skipped %s: %s (%s)", skip.source, skip.reason, skip.detail)
        summary.skipped[skip.reason] += 1
    fixed_aspect = None if ratio_spec in (None, "auto") else str(options.aspect)
    classes = model.info.aspect_classes
    start = time.perf_counter()

    def run(writer: RecordWriter) -> None:
        for result in predictor.predict(
            photos, progress=options.progress, orientations=orientations
        ):
            if isinstance(result, Skipped):
                summary.skipped[result.reason] += 1
                continue
            crop, predicted_aspect = locked_crop(result, ratio_spec, classes)
            leave = result.p_crop is not None and result.p_crop < options.crop_threshold
            wb = None
            if options.write_xmp and leave:
                summary.xmp["left uncropped (p_crop below crop_threshold)"] += 1
            elif options.write_xmp:
                wb = write_crop(
                    result.source,
                    crop,
                    result.width,
                    result.height,
                    result.orientation,
                    target=options.xmp_target,
                    overwrite=options.overwrite,
                    dry_run=options.dry_run,
                    backup=options.backup,
                )
                summary.xmp[wb.action if wb.action != SKIPPED else f"skipped {wb.reason}"] += 1
                if options.dry_run or wb.action in (SKIPPED, KEPT):
                    echo(wb.describe())
                elif wb.action == WRITTEN:
                    logger.debug(wb.describe())
            aspect_name = fixed_aspect or predicted_aspect
            writer.write(prediction_record(result, crop, aspect_name, wb, options.crop_threshold))
            summary.predicted += 1

    try:
        options.output.parent.mkdir(parents=True, exist_ok=True)
        # Atomic: a crash or a full disk leaves the previous file (or none), never half
        # of one. A name that is not UTF-8 (lone surrogates) is written as \udcXX.
        with files.atomic_open(
            options.output, "w", encoding="utf-8", errors="backslashreplace", newline=""
        ) as handle:
            writer = RecordWriter(
                handle, options.format, csv_columns(options, predictor.confidence, bool(classes))
            )
            try:
                run(writer)
            except KeyboardInterrupt:
                # Keep what was predicted so far: the file is complete up to that photo.
                summary.interrupted = True
    except OSError as exc:
        raise PredictOutputError(
            f"cannot write the predictions to {options.output}: {exc.strerror or exc}"
        ) from exc
    summary.seconds = time.perf_counter() - start
    if write_report is not None:
        out_html = report_file_path(options)
        try:
            summary.report = Path(
                write_report(
                    options.output,
                    out_html,
                    options.manifest,
                    overwrite=options.overwrite_output,
                    overwrite_option="overwrite_output=true",
                )
            )
        except ValueError as exc:  # the report's own one-line errors (ReportError)
            summary.report_error = str(exc)
    return summary


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
    return first.startswith(",".join(["source", "width", "height", *_CROP_KEYS]))


def report_file_path(options: PredictOptions) -> Path:
    """Where ``report=true`` writes the HTML page."""
    return options.report_path or options.output.with_suffix(".html")


def check_outputs(options: PredictOptions, photos: Sequence[Path]) -> None:
    """Refuse output paths that would overwrite an input or a file that is not ours.

    Raises:
        PredictError: one line naming the path (``overwrite_output=true`` lets an
            existing file that is not ours be replaced, never an input photo).
    """
    try:
        files.check_output_file(
            options.output,
            what="predictions file",
            is_ours=is_predictions_file,
            overwrite=options.overwrite_output,
            inputs=photos,
        )
        if options.report:
            from cropperhead.report.html import is_report_file

            files.check_output_file(
                report_file_path(options),
                what="report",
                is_ours=is_report_file,
                overwrite=options.overwrite_output,
                inputs=[*photos, options.output],
            )
    except files.OutputRefusedError as exc:
        raise PredictError(str(exc)) from exc


def locked_crop(
    pred: Prediction, ratio_spec: str | float | None, classes: Sequence[str] = ()
) -> tuple[Crop, str | None]:
    """The crop to suggest under ``aspect=``, and the name of the ratio it was snapped to.

    ``auto`` snaps to the aspect class the model predicts for the photo (``free``: the
    model's crop as it is; a model without classes: as ``free``, and no name).

    Args:
        pred: the prediction.
        ratio_spec: :func:`~cropperhead.predict.aspect.parse_aspect` of ``aspect=``.
        classes: the model's aspect classes (``model.info.aspect_classes``).
    """
    if ratio_spec is None:
        return pred.crop, None
    w, h = pred.width, pred.height
    if ratio_spec == "auto":
        if pred.aspect_probs is None or not classes:
            return pred.crop, None
        name = classes[max(range(len(classes)), key=pred.aspect_probs.__getitem__)]
        ratio = class_aspect(name, crop_aspect(pred.crop, w, h), w / h)
        if ratio is None:
            return pred.crop, name
        return snap_crop_to_aspect(pred.crop, w, h, ratio), name
    ratio = w / h if ratio_spec == "original" else float(ratio_spec)
    return snap_crop_to_aspect(pred.crop, w, h, ratio), None


def run_prediction(cfg: Any) -> PredictSummary:
    """``predict.py``'s body: run, print the summary; exit 2 with one line on a user error.

    Args:
        cfg: the composed conf/predict.yaml.

    Returns:
        The summary (also printed to stdout). A report that cannot be written is
        reported after the summary, with exit status 2.
    """
    try:
        options = PredictOptions.from_config(cfg)
        summary = predict_to_file(options)
    except (PredictError, ModelLoadError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except PredictOutputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    print(summary.format())
    if summary.report_error is not None:
        print(f"error: report: {summary.report_error}", file=sys.stderr)
        sys.exit(2)
    if summary.write_failures:
        print(
            f"error: {summary.write_failures} sidecar(s) could not be written (the lines "
            "marked 'skipped (write-failed)' above say why)",
            file=sys.stderr,
        )
        sys.exit(1)
    if summary.interrupted:
        sys.exit(130)
    return summary


__all__ = [
    "FORMATS",
    "PredictError",
    "PredictOptions",
    "PredictSummary",
    "find_photos",
    "predict_to_file",
    "prediction_record",
    "run_prediction",
]
