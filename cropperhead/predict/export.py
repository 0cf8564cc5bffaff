"""Export a trained crop model to ONNX or TorchScript: prediction without Lightning.

    cropperhead export RUN_DIR/checkpoints/last.ckpt --format onnx [--out model.onnx] [--opset 18]
    cropperhead export RUN_DIR/checkpoints/last.ckpt --format torchscript [--out model.pt]

The exported network is the checkpoint's backbone and head, including the head's
valid-by-construction parametrisation, so its output is the crop record itself:

- inputs ``images`` ``[B, 3, S, S]`` float32 (RGB, letterboxed to the model's image size
  ``S``: aspect kept, centred, padded with the mean colour; normalised
  ``(x / 255 - mean) / std`` with the ImageNet statistics) and ``aspect`` ``[B]`` float32
  (display width / height of each photo);
- output ``crops`` ``[B, 5 + E]``: left, top, right, bottom (fractions of the display
  frame) and the angle in degrees (Lightroom's sign), display frame; then, for a model
  with the centre head, the probability of each aspect class (the metadata's
  ``aspect_classes``, in order), the probability that the photographer would crop the
  photo at all and a quality score (E = len(aspect_classes) + 2; 0 otherwise);
- the batch dimension ``B`` is dynamic.

Metadata travels inside the file: the ONNX model's ``metadata_props`` and the TorchScript
archive's extra file hold ``cropperhead.json`` (format, export version, CropperHead
version, image size, backbone, mean/std, the input/output description, hyperparameters);
:func:`cropperhead.predict.loaders.load_crop_model` reads it, and
``python predict.py ckpt_path=model.onnx`` runs the file directly.

ONNX uses torch's ``torch.export``-based exporter (``dynamo=True``, which needs the
``onnxscript`` package: ``pip install "cropperhead[export]"``). TorchScript uses
``torch.jit.trace``; torch marks TorchScript as deprecated in favour of ``torch.export``,
but ``torch.jit.load`` still runs these files anywhere libtorch runs. After writing, the
file is loaded again and compared with the checkpoint on a random batch of a size other
than the one used for tracing (so the dynamic batch is checked too).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from cropperhead import files
from cropperhead.predict.errors import ModelLoadError
from cropperhead.predict.export_cli import DEFAULT_OPSET, FORMATS
from cropperhead.predict.loaders import (
    EXPORT_FORMAT,
    METADATA_KEY,
    export_metadata,
    load_crop_model,
)
from cropperhead.predict.network import CropNet

logger = logging.getLogger(__name__)

#: The exported file's suffix, by format (:data:`FORMATS`, with the command line).
SUFFIXES = {"onnx": ".onnx", "torchscript": ".pt"}
#: Largest difference accepted between the exported file and the checkpoint.
VERIFY_TOLERANCE = 1e-4


class ExportError(ValueError):
    """The export cannot be made (one-line, user-facing message)."""


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_model` wrote.

    Attributes:
        path: the exported file.
        format: ``onnx`` or ``torchscript``.
        max_abs_diff: largest difference from the checkpoint on the verification batch.
    """

    path: Path
    format: str
    max_abs_diff: float


def default_export_path(ckpt_path: Path, fmt: str) -> Path:
    """``last.ckpt`` -> ``last.onnx`` / ``last.pt`` beside the checkpoint."""
    return Path(ckpt_path).with_suffix(SUFFIXES[fmt])


def export_model(
    ckpt_path: Path | str,
    fmt: str = "onnx",
    out: Path | str | None = None,
    opset: int | None = None,
    overwrite: bool = False,
) -> ExportResult:
    """Export a checkpoint's network to ONNX or TorchScript, with its metadata, and verify it.

    Args:
        ckpt_path: a CropRegressor checkpoint from ``train.py``.
        fmt: ``onnx`` or ``torchscript``.
        out: the file to write (default: beside the checkpoint, ``.onnx`` / ``.pt``).
        opset: ONNX opset (default :data:`DEFAULT_OPSET`); ONNX only.
        overwrite: replace an existing ``out`` that is not a model exported by us.

    Returns:
        The written file and the verification difference.

    Raises:
        ExportError: bad arguments, a missing exporter dependency, or an exported file
            that does not reproduce the checkpoint.
        ModelLoadError: the checkpoint cannot be used (see ``load_crop_model``).
    """
    if fmt not in FORMATS:
        raise ExportError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if opset is not None and fmt != "onnx":
        raise ExportError("--opset applies to --format onnx only")
    source = load_crop_model(ckpt_path, device="cpu")
    regressor = getattr(source, "regressor", None)
    if source.info.kind != "checkpoint" or regressor is None:
        raise ExportError(f"{ckpt_path} is already an exported {source.info.kind} model")
    net = CropNet.of(regressor).eval()
    meta = export_metadata(dict(regressor.hparams))
    size = source.info.image_size
    path = Path(out).expanduser() if out is not None else default_export_path(ckpt_path, fmt)
    try:
        files.check_output_file(
            path,
            what="exported model",
            is_ours=is_exported_model,
            overwrite=overwrite,
            inputs=[Path(ckpt_path)],
            option="--overwrite",
        )
    except files.OutputRefusedError as exc:
        raise ExportError(str(exc)) from exc
    path.parent.mkdir(parents=True, exist_ok=True)
    example = (torch.randn(2, 3, size, size), torch.tensor([1.5, 0.75]))
    tmp = files.temp_path(path)
    try:
        if fmt == "onnx":
            _export_onnx(net, example, tmp, meta, opset or DEFAULT_OPSET)
        else:
            _export_torchscript(net, example, tmp, meta)
        # Verified before it replaces anything: a bad export never lands at ``path``.
        diff = verify_export(net, tmp, size, fmt)
        if diff > VERIFY_TOLERANCE:
            raise ExportError(
                f"the export differs from the checkpoint by {diff:.2g} "
                f"(> {VERIFY_TOLERANCE:g}); not written"
            )
        os.replace(tmp, path)
        files.fsync_dir(path.parent)
    finally:
        if tmp.exists():
            tmp.unlink()
    logger.info("exported %s to %s (max |diff| %.2g)", ckpt_path, path, diff)
    return ExportResult(path, fmt, diff)


def _export_onnx(
    net: nn.Module, example: tuple[Tensor, Tensor], path: Path, meta: dict, opset: int
) -> None:
    try:
        import onnx
        import onnxscript  # noqa: F401  (the exporter needs it; fail early with a clear message)
    except ImportError as exc:
        raise ExportError(
            f"ONNX export needs the onnx and onnxscript packages ({exc.name} is missing): "
            'pip install "cropperhead[export]"'
        ) from exc
    batch = torch.export.Dim("batch", min=1, max=4096)
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
        _quiet_loggers("onnxscript", "onnx_ir", "torch.onnx", "torch.export"),
    ):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            net,
            example,
            dynamo=True,
            input_names=["images", "aspect"],
            output_names=["crops"],
            dynamic_shapes={"images": {0: batch}, "aspect": {0: batch}},
            opset_version=opset,
            verbose=False,
        )
        program.save(str(path), external_data=False)
    model = onnx.load(str(path))
    props = {p.key: p for p in model.metadata_props}
    entries = {
        METADATA_KEY: json.dumps(meta, sort_keys=True),
        "image_size": str(meta["image_size"]),
        "backbone": meta["backbone"],
        "cropperhead_version": meta["cropperhead_version"],
    }
    for key, value in entries.items():
        prop = props.get(key) or model.metadata_props.add()
        prop.key, prop.value = key, value
    model.producer_name = "cropperhead"
    model.doc_string = "CropperHead crop model: (images [B,3,S,S], aspect [B]) -> crops [B,5+E]"
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


@contextlib.contextmanager
def _quiet_loggers(*names: str) -> Iterator[None]:
    """Silence the exporter's INFO chatter (graph passes) for the duration."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _export_torchscript(
    net: nn.Module, example: tuple[Tensor, Tensor], path: Path, meta: dict
) -> None:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # TorchScript's deprecation notice, tracer warnings
        traced = torch.jit.trace(net, example, check_trace=False)
        torch.jit.save(traced, str(path), _extra_files={METADATA_KEY: json.dumps(meta)})


def is_exported_model(path: Path) -> bool:
    """Whether ``path`` is a model :func:`export_model` wrote (its metadata is inside)."""
    marker = EXPORT_FORMAT.encode()
    with files.open_regular(path) as handle:
        tail = b""
        while chunk := handle.read(1 << 20):
            if marker in tail + chunk:
                return True
            tail = chunk[-len(marker) :]
    return False


def verify_export(net: nn.Module, path: Path, image_size: int, fmt: str | None = None) -> float:
    """Largest difference between ``net`` and the exported file on a random batch of 3.

    Args:
        net: the network exported.
        path: the exported file.
        image_size: the network's input side.
        fmt: ``onnx`` or ``torchscript`` (None: told by the file name and content).

    Raises:
        ExportError: the written file cannot be loaded back.
    """
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(3, 3, image_size, image_size, generator=generator)
    aspect = torch.tensor([0.6, 1.0, 1.8])
    try:
        exported = load_crop_model(path, device="cpu", kind=fmt)
    except ModelLoadError as exc:
        raise ExportError(f"the exported file cannot be loaded back: {exc}") from exc
    with torch.inference_mode():
        expected = net(images, aspect).float()
    got = exported(images, aspect)
    return float((got - expected).abs().max())
