"""``cropperhead evaluate``, ``cropperhead report`` and ``cropperhead stats``."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from cropperhead.errors import first_line, print_error
from cropperhead.report.baselines import LIBRARY_TEST_FRACTION, LIBRARY_VAL_FRACTION

logger = logging.getLogger(__name__)

EVALUATE_DESCRIPTION = """\
Score suggested crops against the photographer's own. Each prediction is matched to the
manifest samples of the same photo by "source" (a photo with virtual copies is compared
against each copy), and scored in the photo's display pixels: mean and median rotated
IoU, the share of samples with IoU > 0.8, boundary displacement error (BDE, fractions of
the frame), angle MAE and aspect accuracy (the share of crops whose width / height is
the photographer's within 1%). The same samples are scored for two baselines: the full
frame (no crop) and "my usual crop" (the median of each crop coordinate in the manifest,
in its training split with --split, or in the training split of the library the model
was trained on with --usual-crop-from).

Records with "p_crop" / "leave_uncropped": true (the model would leave the photo alone)
are scored with the full frame where they say leave, and the crop-or-leave decision is
scored too (accuracy, precision and recall of "crop"; a sample labelled with the full
frame was left uncropped). Records with "confidence": its Spearman rank correlation
with the IoU."""

EVALUATE_EPILOG = """\
examples:
  cropperhead evaluate --manifest DS/manifest.jsonl --predictions preds.jsonl
      the table: model vs baselines, matched and unmatched counts
  cropperhead evaluate --manifest DS --predictions preds.jsonl --split val --split-seed 42
      only the photos a data=library run with seed=42 validated on (it never trained on
      them; that run holds no test photos back)
  cropperhead evaluate --manifest DS --predictions preds.jsonl --split test --test-fraction 0.15
      only the photos a run with data.test_fraction=0.15 (and seed 42) held out for testing
  cropperhead evaluate --manifest TEST_DS --predictions preds.jsonl --usual-crop-from DS \
      --split-seed 1
      photos the model never saw (a test library scanned into TEST_DS); the usual crop is
      that of DS's training split, as a training run with seed=1 on DS split it
  cropperhead evaluate --manifest DS --predictions preds.jsonl --json | jq .model.iou_mean
      everything as JSON, per-sample scores included

exit status: 0 on success, 2 for a wrong command line or input (a missing or malformed
file, or no prediction matching any sample)."""

REPORT_DESCRIPTION = """\
Write a self-contained HTML contact sheet of suggested crops: one card per photo with
its thumbnail (as the scan orients it), the suggested crop (red), and with --manifest the
photographer's own crop (green, dashed) and their IoU. Cards sort by name, confidence or
IoU; the page loads nothing from the network and works offline. Photos that cannot be
read are listed with the reason."""

REPORT_EPILOG = """\
examples:
  cropperhead report preds.jsonl --out report.html
      the suggestions alone
  cropperhead report preds.jsonl --out report.html --manifest DS/manifest.jsonl
      next to the photographer's crops, with IoU; open report.html#sort=iou-asc for the
      worst first
  cropperhead report preds.jsonl --out big.html --thumb-size 480
      larger thumbnails

exit status: 0 on success (unreadable photos are listed in the page), 2 for a wrong
command line or input."""

STATS_DESCRIPTION = """\
Describe a photographer's cropping habit from a scanned data set: histograms of the
straighten angle, the output aspect ratio (width/height of the cropped picture), the
crop scale (crop area / photo area) and the crop centre with rule-of-thirds lines, as
one PNG, and a text summary (median and IQR of each, share of turned crops, the common
aspect ratios, where the crops came from)."""

STATS_EPILOG = """\
examples:
  cropperhead stats ~/cropperhead-data
      summary on stdout, histograms in ./stats.png
  cropperhead stats DS --out habit.png
  cropperhead stats DS --json --no-plot
      the summary as JSON only

exit status: 0 on success, 2 for a wrong command line or input."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``evaluate``, ``report`` and ``stats`` subcommands."""
    formatter = argparse.RawDescriptionHelpFormatter

    ev = subparsers.add_parser(
        "evaluate",
        help="score predictions against the photographer's crops and two baselines",
        description=EVALUATE_DESCRIPTION,
        epilog=EVALUATE_EPILOG,
        formatter_class=formatter,
    )
    ev.add_argument(
        "--manifest",
        required=True,
        type=Path,
        metavar="DATASET/manifest.jsonl",
        help="the manifest of `cropperhead scan` (or its folder). Example: --manifest DS",
    )
    ev.add_argument(
        "--predictions",
        required=True,
        type=Path,
        metavar="PRED.jsonl",
        help="what `python predict.py` wrote. Example: --predictions preds.jsonl",
    )
    ev.add_argument("--json", action="store_true", help="print the result as JSON")
    ev.add_argument(
        "--split",
        choices=("all", "train", "val", "test"),
        default="all",
        help="evaluate only the samples of this split, split as training does "
        "(default: %(default)s). Example: --split val",
    )
    ev.add_argument(
        "--split-seed",
        type=int,
        default=42,
        metavar="N",
        help="the training run's seed (default: %(default)s, as conf/train.yaml)",
    )
    ev.add_argument(
        "--val-fraction",
        type=float,
        default=LIBRARY_VAL_FRACTION,
        metavar="F",
        help="the training run's data.val_fraction (default: %(default)s, data=library's)",
    )
    ev.add_argument(
        "--test-fraction",
        type=float,
        default=LIBRARY_TEST_FRACTION,
        metavar="F",
        help="the training run's data.test_fraction (default: %(default)s, data=library's; "
        "data=demo holds 0.15 back)",
    )
    ev.add_argument(
        "--usual-crop-from",
        type=Path,
        default=None,
        metavar="DATASET",
        help="take the usual-crop baseline from the training split of this data set "
        "(folder or manifest.jsonl; split with --split-seed and the fractions) instead of "
        "the evaluated manifest. Example: --usual-crop-from ~/cropperhead-data",
    )
    ev.set_defaults(func=run_evaluate)

    rp = subparsers.add_parser(
        "report",
        help="an HTML contact sheet of suggested crops",
        description=REPORT_DESCRIPTION,
        epilog=REPORT_EPILOG,
        formatter_class=formatter,
    )
    rp.add_argument(
        "predictions", type=Path, metavar="PRED.jsonl", help="what `python predict.py` wrote"
    )
    rp.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="report.html",
        help="the page to write (default: PRED.jsonl with .html). Example: --out report.html",
    )
    rp.add_argument(
        "--manifest",
        type=Path,
        default=None,
        metavar="DATASET/manifest.jsonl",
        help="draw the photographer's crops of the photos it knows, with the IoU",
    )
    rp.add_argument(
        "--thumb-size",
        type=int,
        default=320,
        metavar="PIXELS",
        help="long side of the thumbnails (default: %(default)s)",
    )
    rp.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing --out file that is not a CropperHead report",
    )
    rp.set_defaults(func=run_report)

    st = subparsers.add_parser(
        "stats",
        help="histograms and a summary of the photographer's cropping habit",
        description=STATS_DESCRIPTION,
        epilog=STATS_EPILOG,
        formatter_class=formatter,
    )
    st.add_argument(
        "dataset",
        type=Path,
        metavar="DATASET_DIR",
        help="the --out folder of `cropperhead scan` (or its manifest.jsonl)",
    )
    st.add_argument(
        "--out",
        type=Path,
        default=Path("stats.png"),
        metavar="stats.png",
        help="the PNG to write (default: %(default)s)",
    )
    st.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing --out file that is not a CropperHead stats picture",
    )
    st.add_argument("--no-plot", action="store_true", help="only the summary, no PNG")
    st.add_argument("--json", action="store_true", help="print the summary as JSON")
    st.set_defaults(func=run_stats)


def run_evaluate(args: argparse.Namespace) -> int:
    """Run ``cropperhead evaluate``; returns the exit status."""
    from cropperhead.report.baselines import training_usual_crop
    from cropperhead.report.evaluate import evaluate_split
    from cropperhead.report.predictions import ReportError, load_samples, read_suggestions

    try:
        predictions = read_suggestions(args.predictions)
        samples = load_samples(args.manifest)
        usual, usual_from, usual_samples = None, "", 0
        if args.usual_crop_from is not None:
            usual, usual_samples = training_usual_crop(
                load_samples(args.usual_crop_from),
                args.split_seed,
                args.val_fraction,
                args.test_fraction,
            )
            usual_from = f"training split (seed {args.split_seed}) of {args.usual_crop_from}"
        result = evaluate_split(
            samples,
            predictions,
            args.split,
            seed=args.split_seed,
            val_fraction=args.val_fraction,
            test_fraction=args.test_fraction,
            usual=usual,
            usual_from=usual_from,
            usual_samples=usual_samples,
        )
    except ReportError as exc:
        return print_error(exc, prog="cropperhead evaluate")
    except ValueError as exc:
        logger.debug("evaluate failed", exc_info=True)
        return print_error(first_line(exc), prog="cropperhead evaluate")
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(result.format_table())
    return 0


def run_report(args: argparse.Namespace) -> int:
    """Run ``cropperhead report``; returns the exit status."""
    from cropperhead.report.html import write_report
    from cropperhead.report.predictions import ReportError

    out = args.out if args.out is not None else args.predictions.with_suffix(".html")
    try:
        written = write_report(
            args.predictions, out, args.manifest, args.thumb_size, overwrite=args.overwrite
        )
    except ReportError as exc:
        return print_error(exc, prog="cropperhead report")
    except OSError as exc:
        return print_error(f"cannot write {out}: {exc.strerror or exc}", prog="cropperhead report")
    print(f"wrote {written}")
    return 0


def run_stats(args: argparse.Namespace) -> int:
    """Run ``cropperhead stats``; returns the exit status."""
    from cropperhead.report.predictions import ReportError
    from cropperhead.report.stats import dataset_stats

    out = None if args.no_plot else args.out
    try:
        stats = dataset_stats(args.dataset, out, overwrite=args.overwrite)
    except ReportError as exc:
        return print_error(exc, prog="cropperhead stats")
    except OSError as exc:
        return print_error(f"cannot write {out}: {exc.strerror or exc}", prog="cropperhead stats")
    if args.json:
        print(json.dumps(stats.to_dict(), indent=2))
    else:
        print(stats.format())
        if out is not None:
            print(f"\nwrote {out}")
    return 0
