"""``cropperhead scan``: the command line of :func:`cropperhead.scan.scan_library`."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from cropperhead.errors import first_line, print_error

logger = logging.getLogger(__name__)

DESCRIPTION = """\
Build a training set from a photo library: every photo whose Lightroom, Camera Raw or
darktable develop settings hold a crop becomes a sample. Writes DATASET_DIR/images/
(display-oriented JPEGs, long side --size), manifest.jsonl (one sample per line: crop,
corners, origin) and skipped.jsonl (every file looked at and not used, with a reason).
Crops come from a --catalog first, then an XMP sidecar (IMG_1.xmp or IMG_1.CR2.xmp),
then XMP embedded in the photo. The photos, sidecars and catalogs are only read.
Running it again is incremental; an interrupted scan resumes where it stopped."""

EPILOG = """\
examples:
  cropperhead scan ~/Pictures --out ~/cropperhead-data
      walk a folder recursively; sidecars and embedded XMP
  cropperhead scan --catalog ~/Pictures/Lightroom/"Lightroom Catalog.lrcat" --out DS
      every photo of a Lightroom Classic catalog (virtual copies too), no SOURCE needed
  cropperhead scan --catalog cat.lrcat --path-map 'D:/Photos=/mnt/nas/photos' --out DS
      a catalog written on Windows, its photos now on a Linux mount
  cropperhead scan ~/Pictures/2023 ~/Pictures/2024/IMG_0042.CR2 --out DS --size 768
      several sources, folders and single files, larger images
  cropperhead scan ~/Pictures --out DS --include-uncropped --field crs:Exposure2012
      also learn from reviewed photos left uncropped; record the exposure under "extra"
  cropperhead scan ~/Pictures --out DS --prune --workers 4
      update DS, dropping samples whose photo was deleted; decode on 4 processes

exit status: 0 when the scan finished (bad files only land in skipped.jsonl),
1 when it failed or was interrupted (rerun to resume), 2 for a wrong command line."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``scan`` subcommand to the top-level parser."""
    parser = subparsers.add_parser(
        "scan",
        help="build a training set (images + manifest.jsonl) from a photo library",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "sources",
        nargs="*",
        type=Path,
        metavar="SOURCE",
        help="a folder (walked recursively, hidden folders skipped) or a photo file; "
        "optional with --catalog. Example: ~/Pictures",
    )
    parser.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="DATASET_DIR",
        help="output folder (created if needed; an existing data set is updated). "
        "Example: --out ~/cropperhead-data",
    )
    parser.add_argument(
        "--size",
        type=int,
        default=512,
        metavar="PIXELS",
        help="long side of the written images, never enlarged (default: %(default)s). "
        "Example: --size 768",
    )
    parser.add_argument(
        "--catalog",
        action="append",
        type=Path,
        default=[],
        metavar="FILE.lrcat",
        dest="catalogs",
        help="a Lightroom Classic catalog; all its photos are scanned wherever they lie and "
        "its crops beat sidecars (repeatable). Example: --catalog 'Lightroom Catalog.lrcat'",
    )
    parser.add_argument(
        "--path-map",
        action="append",
        default=[],
        metavar="OLD=NEW",
        dest="path_maps",
        help="a --catalog's photos that it lists under the folder OLD now lie under NEW "
        "(another disk, mount point or machine; repeatable, the longest OLD wins). Photos "
        "moved together with their catalog are found without it. Example: --path-map "
        "'C:/Users/me/Pictures=/mnt/photos'",
    )
    parser.add_argument(
        "--include-uncropped",
        action="store_true",
        help="photos whose develop settings were left uncropped become samples with the "
        "full-frame crop (exports never do). Example: --include-uncropped",
    )
    parser.add_argument(
        "--field",
        action="append",
        default=[],
        metavar="crs:NAME",
        dest="fields",
        help="also record this develop setting per sample under 'extra' (repeatable). "
        "Example: --field crs:Exposure2012 --field crs:Temperature",
    )
    parser.add_argument(
        "--prune",
        action="store_true",
        help="drop samples (and their images) whose source photo is gone, or that a "
        "--catalog given now no longer lists. Example: --prune",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="decoding processes (default: all cores; 1 decodes in this process). "
        "Example: --workers 4",
    )
    parser.add_argument(
        "--no-progress",
        action="store_false",
        dest="progress",
        help="no progress bar (it is shown only on a terminal anyway)",
    )
    parser.set_defaults(func=run)


def _error(message: BaseException | str, status: int) -> int:
    print_error(message, prog="cropperhead scan")
    return status


def run(args: argparse.Namespace) -> int:
    """Run ``cropperhead scan`` from parsed arguments; returns the exit status."""
    from cropperhead.scan import ScanError, scan_library

    try:
        summary = scan_library(
            args.sources,
            args.out,
            size=args.size,
            catalogs=args.catalogs,
            include_uncropped=args.include_uncropped,
            fields=args.fields,
            prune=args.prune,
            workers=args.workers,
            progress=args.progress,
            path_maps=args.path_maps,
        )
    except ScanError as exc:
        return _error(exc, 2)
    except KeyboardInterrupt:
        return _error("interrupted; run the same command again to resume", 1)
    except (OSError, RuntimeError) as exc:
        logger.debug("scan failed", exc_info=True)
        # The first line says what failed; the rest is in the debug log.
        return _error(first_line(exc), 1)
    print(summary.format())
    return 0
