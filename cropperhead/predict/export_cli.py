"""``cropperhead export``: the command line of :func:`cropperhead.predict.export.export_model`.

It holds the export's formats and default opset too (:mod:`~cropperhead.predict.export`
takes them from here): this module does not import torch, so ``cropperhead --help``
stays fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cropperhead.errors import print_error

DESCRIPTION = """\
Export a trained crop model (a train.py checkpoint) to ONNX or TorchScript, so that it
runs without Lightning: inputs images [B,3,S,S] (float32, letterboxed, ImageNet-normalised)
and aspect [B] (display width / height), output crops [B,5] (left, top, right, bottom,
angle; display frame); the batch size is free. The image size, backbone, normalisation and
versions are stored inside the file. `python predict.py ckpt_path=MODEL.onnx input=...`
runs the exported file. The export is checked against the checkpoint before it is kept."""

EPILOG = """\
examples:
  cropperhead export logs/train/runs/2026-01-01_10-00-00/checkpoints/last.ckpt
      writes last.onnx beside the checkpoint
  cropperhead export last.ckpt --format torchscript --out cropper.pt
  cropperhead export last.ckpt --format onnx --out cropper.onnx --opset 17

exit status: 0 when the file was written and verified, 2 for a bad checkpoint or option."""

#: What ``--format`` may be: the formats :func:`~cropperhead.predict.export.export_model` writes.
FORMATS = ("onnx", "torchscript")
#: Default ONNX opset (onnxruntime >= 1.18 runs it).
DEFAULT_OPSET = 18


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``export`` subcommand to the top-level parser."""
    parser = subparsers.add_parser(
        "export",
        help="export a trained model to ONNX or TorchScript (runs without Lightning)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("ckpt", type=Path, metavar="CKPT", help="a checkpoint from train.py")
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="onnx",
        help="onnx (onnxruntime, any language) or torchscript (torch.jit.load); "
        "default: %(default)s",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="file to write (default: beside CKPT, .onnx or .pt)",
    )
    parser.add_argument(
        "--opset",
        type=int,
        metavar="N",
        help=f"ONNX opset version (default: {DEFAULT_OPSET})",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing --out file that is not a model exported by CropperHead",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Export; print the written file; one-line error and status 2 on a user error."""
    from cropperhead.predict.errors import ModelLoadError
    from cropperhead.predict.export import ExportError, export_model

    try:
        result = export_model(args.ckpt, args.format, args.out, args.opset, args.overwrite)
    except (ExportError, ModelLoadError) as exc:
        return print_error(exc)
    print(
        f"wrote {result.path} ({result.format}; max |difference| from the checkpoint "
        f"{result.max_abs_diff:.1e})"
    )
    return 0
