"""``cropperhead scan``: build a training set from a photo library (docs/interfaces.md).

Python API: :func:`scan_library` (returns a :class:`ScanSummary`); command line:
:mod:`cropperhead.scan.cli`. Modules: ``walker`` (finding photos and sidecars),
``relocate`` (finding a catalog's moved photos), ``inputs`` (catalog rows and the inputs'
own skip records), ``arguments`` (the checks made before anything is written),
``rules`` (what a source's settings mean for a sample), ``photo`` (labelling one photo,
in a worker), ``keys`` (the incremental key), ``pool`` (the worker processes),
``state`` (the state, journal and lock in ``.scan/``), ``manifest`` (manifest.jsonl and
skipped.jsonl), ``jsonl`` (JSON lines, written atomically), ``summary`` (what a scan
reports) and ``pipeline`` (the scan itself).

Rules this package decides
==========================

What is a photo
    A file with a photo extension (:data:`cropperhead.imaging.PHOTO_EXTENSIONS`, any
    case) found by walking a SOURCE folder (hidden folders and files skipped, symlinked
    folders followed once, the output folder never entered) or given directly. ``.xmp``
    files are sidecars. A sidecar with no photo beside it is recorded in skipped.jsonl
    as ``missing-file`` ("XMP sidecar whose photo is not beside it"); a file given
    directly that is neither photo nor sidecar as ``unsupported``. Every photo of a
    ``--catalog`` is scanned wherever it lies: where ``--path-map`` moves it, else
    where the catalog says, else through the catalog's relative path (photos moved
    together with their catalog; :mod:`cropperhead.scan.relocate`); a row whose file is
    found nowhere is ``missing-file``. A photo is known by its absolute, symlink-resolved path (the
    manifest's ``source``), so one reached twice is scanned once. ``--out`` may lie
    inside a SOURCE (it is not walked) but may not be the SOURCE folder itself.

Which source decides (precedence)
    For a photo that a ``--catalog`` lists, each catalog row (master and every virtual
    copy) is a sample of its own and decides alone when it has develop settings; a row
    without settings falls back to the photo's own metadata. Otherwise the photo's
    sidecars are read in order (``IMG_1.xmp``, then ``IMG_1.CR2.xmp``; a packet with a
    darktable history goes to the darktable reader, origin ``darktable``), then its
    embedded XMP. The first of these that has develop settings *or cannot be read
    safely* decides (a malformed sidecar gives ``bad-metadata``; it does not silently
    fall through to older embedded settings); sources without develop settings are
    passed over. A photo whose sidecar ``IMG_1.xmp`` is shared with a RAW file of the
    same stem (RAW+JPEG pair) leaves that sidecar to the RAW.

Outcome, in this order
    no develop settings anywhere -> ``no-metadata``; ``AlreadyApplied`` True (an export)
    -> ``crop-already-applied``, with or without a crop, and never a sample even with
    ``--include-uncropped``; no crop, or ``HasCrop`` True with the full frame and angle 0
    -> ``uncropped`` (or, with ``--include-uncropped``, a sample with the full-frame
    label ``{0, 0, 1, 1, 0}``); crop values out of range -> ``invalid-crop`` (from the
    readers); the photo cannot be decoded -> ``unreadable`` / ``unsupported``; the
    crop is not a rectangle inside the full-resolution frame (0.5 px slack) ->
    ``invalid-crop``; otherwise a sample. A reader's ``SkipError`` is recorded with its
    reason. An unexpected error on one file is recorded as ``unreadable`` and the scan
    goes on. A file that kills its worker process (a decoder crash, the OOM killer) is
    retried alone in a fresh worker; if that dies too it is ``unreadable`` for this
    scan and is tried again by the next one. When worker processes cannot start at all
    the scan stops with an error instead (use ``--workers 1``).

Orientation (display frame)
    The catalog row's orientation for catalog-decided samples; else the deciding
    source's own (darktable's flip, or the deciding XMP's tiff:Orientation); else the
    tiff:Orientation of the first sidecar that has one, then of the embedded XMP; else
    the EXIF orientation the decoder found; else 1. Stored-frame crops are converted
    with :func:`cropperhead.geometry.crop_stored_to_display` on the decoder's
    full-resolution stored size; darktable's display-frame crops are used as they are.

Images
    ``images/<stem>_<16 hex>.jpg``: the whole picture, display-oriented, long side
    ``--size`` (never enlarged), JPEG quality 95, written atomically. The hex is a hash
    of the absolute source path, the sample (catalog row) and the photo's incremental
    key, so a name is stable while nothing changes, and a relabelled photo gets a new
    file (the old manifest stays consistent until the new one replaces it). Images
    that no sample refers to any more are deleted at the end of a completed scan (only
    files named like ours).

Incremental scans
    Each photo's key is a hash of: its size and mtime_ns (embedded XMP lives in the
    file), the bytes of each of its sidecars, every catalog row's settings as read, and
    the scan settings (``--size``, ``--field``, ``--include-uncropped``) plus a version
    of these rules. A photo whose key and images are unchanged is not decoded, not even
    read; its previous samples and skip records are kept. The state lives in
    ``DATASET_DIR/.scan/`` (see :mod:`cropperhead.scan.state`); manifest.jsonl keeps
    exactly the documented keys. Photos from earlier runs stay when later runs scan
    other folders. A photo labelled from a catalog keeps that label when a later run
    without that catalog walks it (the catalog stays the truth). ``--prune`` drops
    photos whose file is gone, and photos that a catalog given in this run no longer
    lists (unless walked). Skip records of sidecar orphans, missing catalog files and
    corrupt catalog rows are re-derived whenever their folder or catalog is scanned.

Crash safety
    manifest.jsonl, skipped.jsonl and the state are replaced atomically at the end;
    every finished photo is appended to ``.scan/journal.jsonl`` (flushed at once;
    fsynced when half a second has passed since the last fsync, and at the end).
    After Ctrl-C or ``kill -9`` the previous manifest is intact, and the next scan
    reuses every photo in the journal whose key still matches. A lock file keeps two
    scans from writing to one DATASET_DIR at once.

The photos, sidecars and catalogs are only ever opened for reading.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ScanError": "cropperhead.scan.arguments",
    "ScanSummary": "cropperhead.scan.summary",
    "scan_library": "cropperhead.scan.pipeline",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    # Lazy, so that `cropperhead --help` does not import the decoders.
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
