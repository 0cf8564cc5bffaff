"""``python predict.py``'s body: find the photos, predict, write the records and XMP, summarise.

``input`` is a photo, a folder or a glob, or a list of them (:mod:`.photos`); the options
are :class:`~cropperhead.predict.options.PredictOptions`. ``output`` defaults to
``predictions.jsonl`` (or ``.csv``) in Hydra's run folder,
``logs/predict/runs/<date>_<time>/``; :mod:`.records` describes the records, one per
predicted photo, in input order.

Photos that cannot be read are skipped with a warning and counted in the closing summary;
the exit status stays 0. Problems that stop the run before it starts (missing or unusable
checkpoint, no photos found, bad option values, an output path that is an input photo or
an existing file that is not an earlier output: ``overwrite_output=true`` replaces the
latter) print one line to stderr and exit with status 2. A predictions file that cannot
be written (a full disk) and sidecars that could not be written end the run with one
line and status 1; Ctrl-C keeps the records predicted so far and exits with 130.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cropperhead import files
from cropperhead.errors import exit_with_error
from cropperhead.geometry import Crop
from cropperhead.geometry.aspect import class_aspect, crop_aspect
from cropperhead.predict.aspect import parse_aspect, snap_crop_to_aspect
from cropperhead.predict.errors import ModelLoadError, PredictError, PredictOutputError
from cropperhead.predict.options import PredictOptions
from cropperhead.predict.photos import Unsupported, find_photos
from cropperhead.predict.records import (
    RecordWriter,
    csv_columns,
    is_predictions_file,
    prediction_record,
)
from cropperhead.predict.writeback import (
    KEPT,
    SKIPPED,
    WRITE_FAILED,
    WRITTEN,
    WritebackResult,
    write_crop,
)

if TYPE_CHECKING:  # torch and Lightning load on use: option errors come back at once
    from cropperhead.predict.predictor import Prediction, Predictor

logger = logging.getLogger(__name__)

#: The exit status of a run that Ctrl-C ended (the shell's 128 + SIGINT).
INTERRUPTED_STATUS = 130


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
        PredictOutputError: the predictions cannot be written.
    """
    write_report = _report_writer() if options.report else None
    photos, unsupported = _inputs(options)
    orientations = _orientations(options)
    predictor = _predictor(options)
    model = predictor.model
    summary = PredictSummary(
        output=options.output.resolve(),
        model=model.info.describe(),
        device=model.providers[0] if hasattr(model, "providers") else model.device,
        dry_run=options.dry_run,
    )
    for skip in unsupported:
        logger.warning("skipped %s: %s (%s)", skip.source, skip.reason, skip.detail)
        summary.skipped[skip.reason] += 1
    start = time.perf_counter()
    _write_predictions(options, predictor, photos, orientations, summary, echo)
    summary.seconds = time.perf_counter() - start
    if write_report is not None:
        _write_report(write_report, options, summary)
    return summary


def _report_writer() -> Callable[..., Path]:
    try:
        from cropperhead.report import write_report
    except ImportError as exc:
        raise PredictError(
            "report=true: the HTML report is not available in this CropperHead yet "
            f"(cropperhead.report.write_report: {exc}); run without report=true"
        ) from exc
    return write_report


def _inputs(options: PredictOptions) -> tuple[list[Path], list[Unsupported]]:
    """The photos to predict and the unsupported files, once the outputs are known safe.

    Raises:
        ModelLoadError: there is no checkpoint at ``ckpt_path``.
        PredictError: no photos found, or an output path that may not be written.
    """
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
    return photos, unsupported


def _orientations(options: PredictOptions) -> dict[Path, int] | None:
    """The ``orientations=`` table, or None.

    Raises:
        PredictError: the file cannot be read or holds a bad orientation.
    """
    if options.orientations is None:
        return None
    from cropperhead.predict.lightroom import read_orientations

    try:
        return read_orientations(options.orientations)
    except ValueError as exc:
        raise PredictError(str(exc)) from exc


def _predictor(options: PredictOptions) -> Predictor:
    """The model loaded on its device, in a :class:`Predictor` with the run's settings.

    Raises:
        ModelLoadError: the checkpoint cannot be used.
    """
    from cropperhead.predict.loaders import load_crop_model
    from cropperhead.predict.predictor import Predictor

    return Predictor(
        load_crop_model(options.ckpt_path, options.device),
        batch_size=options.batch_size,
        num_workers=options.num_workers,
        confidence=options.confidence,
        decode_size=options.decode_size,
        mirror_average=options.mirror_average,
    )


def _write_predictions(
    options: PredictOptions,
    predictor: Predictor,
    photos: Sequence[Path],
    orientations: Mapping[Path, int] | None,
    summary: PredictSummary,
    echo: Callable[[str], None],
) -> None:
    """Predict every photo into the predictions file, atomically; Ctrl-C keeps the records.

    Raises:
        PredictOutputError: the file cannot be written (one line).
    """
    extras = bool(predictor.model.info.aspect_classes)
    try:
        options.output.parent.mkdir(parents=True, exist_ok=True)
        # Atomic: a crash or a full disk leaves the previous file (or none), never half
        # of one. A name that is not UTF-8 (lone surrogates) is written as \udcXX.
        with files.atomic_open(
            options.output, "w", encoding="utf-8", errors="backslashreplace", newline=""
        ) as handle:
            columns = csv_columns(options, predictor.confidence, extras)
            writer = RecordWriter(handle, options.format, columns)
            try:
                _predict_photos(options, predictor, photos, orientations, writer, summary, echo)
            except KeyboardInterrupt:
                # Keep what was predicted so far: the file is complete up to that photo.
                summary.interrupted = True
    except OSError as exc:
        raise PredictOutputError(
            f"cannot write the predictions to {options.output}: {exc.strerror or exc}"
        ) from exc


def _predict_photos(
    options: PredictOptions,
    predictor: Predictor,
    photos: Sequence[Path],
    orientations: Mapping[Path, int] | None,
    writer: RecordWriter,
    summary: PredictSummary,
    echo: Callable[[str], None],
) -> None:
    """Predict, lock the aspect, write back (``write_xmp``) and write one record per photo."""
    from cropperhead.predict.predictor import Skipped

    ratio_spec = parse_aspect(options.aspect)
    fixed_aspect = None if ratio_spec in (None, "auto") else str(options.aspect)
    classes = predictor.model.info.aspect_classes
    for result in predictor.predict(photos, progress=options.progress, orientations=orientations):
        if isinstance(result, Skipped):
            summary.skipped[result.reason] += 1
            continue
        crop, predicted_aspect = locked_crop(result, ratio_spec, classes)
        wb = _write_back(result, crop, options, summary, echo) if options.write_xmp else None
        aspect_name = fixed_aspect or predicted_aspect
        writer.write(prediction_record(result, crop, aspect_name, wb, options.crop_threshold))
        summary.predicted += 1


def _write_back(
    pred: Prediction,
    crop: Crop,
    options: PredictOptions,
    summary: PredictSummary,
    echo: Callable[[str], None],
) -> WritebackResult | None:
    """Write the crop into the photo's sidecar, count the outcome; None: left uncropped."""
    if pred.p_crop is not None and pred.p_crop < options.crop_threshold:
        summary.xmp["left uncropped (p_crop below crop_threshold)"] += 1
        return None
    wb = write_crop(
        pred.source,
        crop,
        pred.width,
        pred.height,
        pred.orientation,
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
    return wb


def _write_report(
    write_report: Callable[..., Path], options: PredictOptions, summary: PredictSummary
) -> None:
    """Write the HTML report; its one-line error goes into the summary."""
    try:
        summary.report = Path(
            write_report(
                options.output,
                report_file_path(options),
                options.manifest,
                overwrite=options.overwrite_output,
                overwrite_option="overwrite_output=true",
            )
        )
    except ValueError as exc:  # the report's own one-line errors (ReportError)
        summary.report_error = str(exc)


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
        cfg: the composed conf/predict.yaml (or a dict of some of its keys).

    Returns:
        The summary (also printed to stdout). A report that cannot be written is
        reported after the summary, with exit status 2; sidecars that could not be
        written, with status 1; an interrupted run exits with status 130.
    """
    try:
        options = PredictOptions.from_config(cfg)
        summary = predict_to_file(options)
    except (PredictError, ModelLoadError) as exc:
        exit_with_error(exc)
    except PredictOutputError as exc:
        exit_with_error(exc, status=1)
    print(summary.format())
    if summary.report_error is not None:
        exit_with_error(f"report: {summary.report_error}")
    if summary.write_failures:
        exit_with_error(
            f"{summary.write_failures} sidecar(s) could not be written (the lines "
            "marked 'skipped (write-failed)' above say why)",
            status=1,
        )
    if summary.interrupted:
        sys.exit(INTERRUPTED_STATUS)
    return summary


__all__ = [
    "PredictSummary",
    "check_outputs",
    "locked_crop",
    "predict_to_file",
    "report_file_path",
    "run_prediction",
]
