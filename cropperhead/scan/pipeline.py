"""One photo in, samples and skip records out; and the scan that runs it over a library.

:func:`process_photo` runs in the worker processes: it reads the photo's metadata,
decides, decodes the picture once, writes one display-oriented JPEG per sample and
returns a state entry (see :mod:`cropperhead.scan.manifest`). :func:`scan_library`
walks the sources, reads the catalogs, keys every photo, hands the new and changed
ones to a process pool, journals each result as it arrives, and at the end commits
the state and rewrites ``manifest.jsonl`` and ``skipped.jsonl``. The rules it applies
are listed in :mod:`cropperhead.scan`.

Test-only hooks (never set them otherwise): when the environment variable
``CROPPERHEAD_SCAN_TEST_KILL_AFTER`` is a number N, the scanning process sends itself
SIGKILL right after journaling its N-th result (a reproducible ``kill -9`` in the middle
of a scan); when ``CROPPERHEAD_SCAN_TEST_CRASH_ON`` is a file name, a *pool worker*
process that is given the photo of that name exits at once, as a crashing decoder would.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import multiprocessing
import os
import re
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from cropperhead import files, imaging
from cropperhead.geometry import (
    MIRRORED,
    Crop,
    corners_stored_to_display,
    crop_is_inside,
    crop_stored_to_display,
    crop_to_corners,
    display_size,
)
from cropperhead.metadata import lrcat, xmp
from cropperhead.metadata.photo import (
    PhotoGeometry,
    PhotoMetadata,
    SidecarRead,
    read_sidecar_bytes,
)
from cropperhead.metadata.types import (
    ALREADY_APPLIED,
    BAD_METADATA,
    INVALID_CROP,
    MISSING_FILE,
    NO_METADATA,
    ORIGIN_DARKTABLE,
    UNCROPPED,
    UNREADABLE,
    UNSUPPORTED,
    DevelopSettings,
    SkipError,
)
from cropperhead.scan import relocate, walker
from cropperhead.scan.manifest import (
    DATASET_KIND,
    IMAGES_DIR,
    Entry,
    EntryStore,
    ScanState,
    is_dataset,
    manifest_record,
    new_entry,
    remove_stale_temporaries,
    scan_lock,
    skipped_record,
    write_outputs,
)
from cropperhead.workers import exit_with_parent

logger = logging.getLogger(__name__)

#: Bump when the labelling rules change, so that every photo is labelled again.
KEY_VERSION = 1
#: JPEG quality of the images written.
JPEG_QUALITY = 95
#: Slack of the "crop inside the photo" check, in pixels of the full-resolution frame
#: (absorbs the six-decimal rounding of XMP).
INSIDE_TOLERANCE_PX = 0.5
#: Sidecars larger than this are not read (no real sidecar comes near it).
MAX_SIDECAR_BYTES = 32 * 1024 * 1024
#: Digits kept in the crop and corner values of the manifest.
DIGITS = 9
#: Fsync the journal at most this often (seconds); it is flushed after every photo.
JOURNAL_SYNC_S = 0.5
KILL_HOOK_ENV = "CROPPERHEAD_SCAN_TEST_KILL_AFTER"
CRASH_HOOK_ENV = "CROPPERHEAD_SCAN_TEST_CRASH_ON"
#: Fewest photos to decode per worker process started (fewer: decode in this process).
PHOTOS_PER_WORKER = 4

IMAGE_NAME_RE = re.compile(r"^.+_[0-9a-f]{16}\.jpg$")


class ScanError(ValueError):
    """A scan that cannot start: bad arguments or an unusable output folder."""


@dataclass(frozen=True)
class ScanConfig:
    """The settings every worker needs (picklable).

    Attributes:
        out: the DATASET_DIR.
        size: long side of the written images, pixels.
        fields: ``--field`` names asked for.
        include_uncropped: reviewed, uncropped photos become full-frame samples.
    """

    out: Path
    size: int = 512
    fields: tuple[str, ...] = ()
    include_uncropped: bool = False


@dataclass(frozen=True)
class Sidecar:
    """A sidecar as the scan read it: its bytes, or why they could not be read.

    Jobs carry sidecars without their bytes (``packet`` and ``error`` both None): the
    planning step reads each sidecar for the photo's key, the worker reads it again
    (:meth:`loaded`), so that no job holds sidecar bytes while it waits.
    """

    path: Path
    packet: bytes | None
    error: tuple[str, str] | None = None

    def loaded(self) -> Sidecar:
        """This sidecar with its bytes, reading the file if they were dropped."""
        if self.packet is None and self.error is None:
            return _read_sidecar(self.path)
        return self


@dataclass(frozen=True)
class PhotoJob:
    """Everything a worker needs to process one photo.

    Attributes:
        photo: absolute path of the photo.
        key: the incremental key (see :func:`photo_key`).
        input: the SOURCE argument the photo was found under, or None (catalog only).
        sidecars: its sidecars in reading order, with their bytes.
        catalog_rows: the catalog rows (masters and virtual copies) for this photo.
        catalogs: absolute paths of the catalogs those rows came from.
    """

    photo: Path
    key: str
    input: str | None = None
    sidecars: tuple[Sidecar, ...] = ()
    catalog_rows: tuple[DevelopSettings, ...] = ()
    catalogs: tuple[str, ...] = ()


#: A photo to label, as :meth:`_Scan._plan` keeps it: ``(photo, key, SOURCE argument or
#: None, sidecar paths)``, all strings.
_ToDo = tuple[str, str, str | None, tuple[str, ...]]


@dataclass
class ScanSummary:
    """What a scan did, and what the data set holds afterwards.

    Counts of photos: ``new`` (not in the data set before), ``updated`` (labelled again
    because the photo, its metadata or the scan settings changed), ``unchanged``
    (reused without decoding), ``pruned`` (dropped by ``--prune``); ``resumed`` of
    the new and updated ones were finished by an interrupted scan and reused;
    ``decoded`` photos were decoded by this scan.
    """

    out: Path
    samples_by_origin: dict[str, int] = field(default_factory=dict)
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    pruned: int = 0
    resumed: int = 0
    decoded: int = 0
    seconds: float = 0.0
    hints: list[str] = field(default_factory=list)

    @property
    def samples(self) -> int:
        """Lines in manifest.jsonl."""
        return sum(self.samples_by_origin.values())

    @property
    def skipped(self) -> int:
        """Lines in skipped.jsonl."""
        return sum(self.skipped_by_reason.values())

    def format(self) -> str:
        """The closing summary, a few human-readable lines."""

        def counts(d: dict[str, int]) -> str:
            return ", ".join(f"{k} {v}" for k, v in sorted(d.items())) or "none"

        rate = self.decoded / self.seconds if self.seconds > 0 else 0.0
        return "\n".join(
            [
                f"samples: {self.samples} ({counts(self.samples_by_origin)})",
                f"skipped: {self.skipped} ({counts(self.skipped_by_reason)})",
                f"photos: {self.new} new, {self.updated} updated, {self.unchanged} unchanged, "
                f"{self.pruned} pruned"
                + (f" ({self.resumed} resumed from an interrupted scan)" if self.resumed else ""),
                f"decoded {self.decoded} photos in {self.seconds:.1f} s ({rate:.1f} photos/s); "
                f"data set in {self.out}",
                *(f"hint: {hint}" for hint in self.hints),
            ]
        )


# --------------------------------------------------------------------------- deciding


@dataclass(frozen=True)
class Decision:
    """What one metadata source means for one sample.

    Either ``skip`` (reason, detail) is set, or ``crop`` is the label to check and
    convert (``frame`` says stored or display).
    """

    skip: tuple[str, str] | None = None
    crop: Crop | None = None
    frame: str = "stored"


def decide(settings: DevelopSettings, include_uncropped: bool) -> Decision:
    """Apply the outcome rules (no-metadata, already applied, uncropped) to settings.

    Args:
        settings: what the deciding metadata source says.
        include_uncropped: reviewed photos without a crop become full-frame samples.

    Returns:
        A skip, or a crop still to be checked against the decoded frame.
    """
    where = _describe(settings)
    if not settings.has_settings:
        return Decision(skip=(NO_METADATA, f"no develop settings in {where}"))
    if settings.already_applied:
        what = "its crop is" if settings.has_crop else "its develop settings are"
        return Decision(
            skip=(
                ALREADY_APPLIED,
                f"{where} says AlreadyApplied: an exported picture, {what} already in the pixels",
            )
        )
    crop = settings.crop if settings.has_crop else None
    if crop is None or crop.is_full_frame(tol=1e-6):
        if include_uncropped:
            return Decision(crop=Crop.full_frame(), frame="display")
        why = "no crop" if crop is None else "a full-frame crop with no angle"
        return Decision(skip=(UNCROPPED, f"{where} has develop settings but {why}"))
    return Decision(crop=crop, frame=settings.crop_frame)


def _describe(settings: DevelopSettings) -> str:
    name = settings.source.name if settings.source is not None else "the photo"
    if settings.copy_name:
        return f"{settings.origin} {name} (virtual copy {settings.copy_name!r})"
    return f"{settings.origin} {name}"


def label_display(
    decision: Decision, width_px: int, height_px: int, orientation: int
) -> tuple[Crop, np.ndarray]:
    """Check a decided crop against the full-resolution frame and move it to display.

    Args:
        decision: a decision with a crop (not a skip).
        width_px: full-resolution *stored* width W.
        height_px: full-resolution stored height H.
        orientation: EXIF orientation 1..8 of the display frame.

    Returns:
        ``(crop, corners)``: the display-frame crop and its ``[4, 2]`` corners
        normalised by the display size (TL, TR, BR, BL).

    Raises:
        SkipError: ``invalid-crop`` when the crop is not a rectangle inside the photo
            (half a pixel of slack).
    """
    crop = decision.crop
    if crop is None:
        raise ValueError("decision has no crop")
    dw, dh = display_size(width_px, height_px, orientation)
    if decision.frame == "display":
        if not crop_is_inside(crop, dw, dh, INSIDE_TOLERANCE_PX):
            raise SkipError(INVALID_CROP, _outside(crop, dw, dh, "display"))
        shown = crop
    else:
        if not crop_is_inside(crop, width_px, height_px, INSIDE_TOLERANCE_PX):
            raise SkipError(INVALID_CROP, _outside(crop, width_px, height_px, "stored"))
        try:
            shown = crop_stored_to_display(crop, width_px, height_px, orientation)
        except ValueError:
            # A turned crop whose corner pokes out by less than the slack: clip it in.
            pts = corners_stored_to_display(
                crop_to_corners(crop, width_px, height_px), width_px, height_px, orientation
            )
            pts = np.clip(pts, 0, [dw, dh])
            angle = -crop.angle if orientation in MIRRORED else crop.angle
            shown = Crop(pts[0, 0] / dw, pts[0, 1] / dh, pts[2, 0] / dw, pts[2, 1] / dh, angle)
    corners = np.clip(crop_to_corners(shown, dw, dh) / [dw, dh], 0.0, 1.0)
    return shown, corners


def _outside(crop: Crop, w: float, h: float, frame: str) -> str:
    return f"crop {crop.to_dict()} is not a rectangle inside the {w:g} x {h:g} {frame} frame"


def _round(value: float) -> float:
    value = round(float(value), DIGITS)
    return 0.0 if value == 0 else value


# --------------------------------------------------------------------------- one photo


class _Photo:
    """One photo as a worker sees it: its metadata places and its pixels, read lazily.

    The metadata is :class:`cropperhead.metadata.photo.PhotoMetadata`, the model that
    write-back asks too; it reads the places in precedence order and only as far as
    needed. The picture is decoded at most once (darktable sidecars need its size,
    samples need its pixels).
    """

    def __init__(self, job: PhotoJob, config: ScanConfig) -> None:
        self.job = job
        self.fields = config.fields
        self.min_long_side = config.size
        self.decoded = False

    @cached_property
    def stored(self) -> imaging.StoredImage | SkipError:
        """The decoded stored frame, or the reason it cannot be decoded."""
        if not walker.is_photo(self.job.photo):
            return SkipError(UNSUPPORTED, f"not a photo file: {self.job.photo.name}")
        self.decoded = True
        try:
            return imaging.read_stored_image(self.job.photo, self.min_long_side)
        except SkipError as exc:
            return exc

    def _geometry(self) -> PhotoGeometry | SkipError:
        """What darktable's turned crops need; decodes the photo (once)."""
        stored = self.stored
        if isinstance(stored, SkipError):
            return stored
        return PhotoGeometry(stored.width, stored.height, stored.exif_orientation)

    @cached_property
    def metadata(self) -> PhotoMetadata:
        """The photo's metadata places, from the sidecar bytes the job carries (or re-read)."""
        reads = []
        for sidecar in self.job.sidecars:
            loaded = sidecar.loaded()
            reads.append(SidecarRead(loaded.path, loaded.packet, loaded.error))
        return PhotoMetadata(self.job.photo, reads, fields=self.fields, geometry=self._geometry)

    @property
    def sidecars(self) -> list[DevelopSettings | SkipError]:
        """What each sidecar says, in reading order."""
        return [place.result for place in self.metadata.sidecars]

    @property
    def embedded(self) -> DevelopSettings | SkipError | None:
        """What the embedded XMP says, or None when there is none."""
        place = self.metadata.embedded
        return place.result if place is not None else None

    @cached_property
    def deciding(self) -> DevelopSettings | SkipError:
        """The first source with develop settings, or that cannot be read safely."""
        place = self.metadata.deciding
        if place is not None:
            return place.result
        names = ", ".join(s.path.name for s in self.job.sidecars)
        where = f"sidecar {names} or embedded XMP" if names else "sidecar or embedded XMP"
        return SkipError(NO_METADATA, f"no develop settings in a {where}")

    @property
    def xmp_orientation(self) -> int | None:
        """tiff:Orientation of the first sidecar that records one, else the embedded XMP's."""
        return self.metadata.xmp_orientation

    def orientation(self, settings: DevelopSettings, stored: imaging.StoredImage) -> int:
        """The display orientation of a sample decided by ``settings``.

        The source's own orientation (catalog, darktable flip, the deciding XMP's
        tiff:Orientation), else XMP tiff:Orientation (sidecars, then embedded), else
        EXIF, else 1. darktable's automatic orientation *is* the EXIF one, so its crops
        skip the XMP step.
        """
        chain: list[int | None] = [settings.orientation]
        if settings.origin != ORIGIN_DARKTABLE:
            chain.append(self.xmp_orientation)
        chain.append(stored.exif_orientation)
        return next((o for o in chain if _valid_orientation(o)), 1)


def _valid_orientation(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 8


def image_name(photo: Path, sample_key: str, key: str) -> str:
    """Stable image file name: readable stem plus a hash of source, sample and key."""
    text = f"{photo}\0{sample_key}\0{key}"
    digest = hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", photo.stem)[:48].strip("._") or "photo"
    return f"{stem}_{digest}.jpg"


def _sample_key(row: DevelopSettings, index: int) -> str:
    return row.sample_key if row.sample_key is not None else f"{row.source}#{index}"


def process_photo(job: PhotoJob, config: ScanConfig) -> tuple[Entry, bool]:
    """Label one photo: read its metadata, decode it once, write its sample images.

    Runs in a worker process. Never raises for a bad file: every problem becomes a
    skip record of the returned entry.

    Args:
        job: the photo and what the main process gathered about it.
        config: the scan settings.

    Returns:
        ``(entry, decoded)``: the state entry and whether the photo was decoded.
    """
    crash_on = os.environ.get(CRASH_HOOK_ENV)
    if crash_on and job.photo.name == crash_on and multiprocessing.parent_process() is not None:
        os._exit(70)  # test-only: a decoder crash in a pool worker
    entry = new_entry(str(job.photo), "photo", job.key, job.input, job.catalogs)
    photo = _Photo(job, config)
    try:
        _process(photo, config, entry)
    except Exception as exc:
        logger.warning("%s: %s: %s", job.photo, type(exc).__name__, exc)
        entry["samples"] = []
        entry["skipped"] = [skipped_record(job.photo, UNREADABLE, f"{type(exc).__name__}: {exc}")]
    return entry, photo.decoded


def _process(photo: _Photo, config: ScanConfig, entry: Entry) -> None:
    job = photo.job
    # One plan per sample: (sample key, the settings that decide it, or why not).
    plans: list[tuple[str, DevelopSettings | SkipError]] = []
    for index, row in enumerate(job.catalog_rows):
        plans.append((_sample_key(row, index), row if row.has_settings else photo.deciding))
    if not job.catalog_rows:
        plans.append(("", photo.deciding))

    todo: list[tuple[str, DevelopSettings, Decision]] = []
    for sample_key, chosen in plans:
        if isinstance(chosen, SkipError):
            entry["skipped"].append(skipped_record(job.photo, chosen.reason, chosen.detail))
            continue
        decision = decide(chosen, config.include_uncropped)
        if decision.skip is not None:
            entry["skipped"].append(skipped_record(job.photo, *decision.skip))
        else:
            todo.append((sample_key, chosen, decision))
    if not todo:
        return
    stored = photo.stored
    if isinstance(stored, SkipError):
        for _ in todo:
            entry["skipped"].append(skipped_record(job.photo, stored.reason, stored.detail))
        return

    images_dir = config.out / IMAGES_DIR
    pictures: dict[int, Any] = {}
    for sample_key, chosen, decision in todo:
        orientation = photo.orientation(chosen, stored)
        try:
            crop, corners = label_display(decision, stored.width, stored.height, orientation)
        except SkipError as exc:
            entry["skipped"].append(skipped_record(job.photo, exc.reason, exc.detail))
            continue
        if orientation not in pictures:
            pictures[orientation] = imaging.display_from_stored(stored, config.size, orientation)
        shown = pictures[orientation]
        name = image_name(job.photo, sample_key, job.key)
        imaging.save_jpeg(
            shown.image, images_dir / name, quality=JPEG_QUALITY, comment=imaging.SCAN_COMMENT
        )
        entry["samples"].append(
            manifest_record(
                image=f"{IMAGES_DIR}/{name}",
                source=str(job.photo),
                width=shown.width,
                height=shown.height,
                crop={k: _round(v) for k, v in crop.to_dict().items()},
                corners=[[_round(x), _round(y)] for x, y in corners],
                origin=chosen.origin,
                extra={f: str(chosen.fields[f]) for f in config.fields if f in chosen.fields},
            )
        )


# --------------------------------------------------------------------------- keys


def _read_sidecar(path: Path) -> Sidecar:
    read = read_sidecar_bytes(path, MAX_SIDECAR_BYTES)
    return Sidecar(path, read.packet, read.error)


def load_photo(path: Path, size: int, orientation: int | None = None) -> imaging.DisplayImage:
    """A photo in its display frame exactly as the scan shows it, for predict and reports.

    The orientation follows the scan's rule for a photo outside any catalog: the
    tiff:Orientation of its XMP (sidecars, then embedded), else its EXIF orientation,
    else 1; ``orientation`` replaces it (a catalog's, as Lightroom shows the photo).

    Args:
        path: the photo.
        size: long side of the returned picture (never enlarged).
        orientation: the EXIF orientation 1..8 to use instead, or None.

    Returns:
        The display-frame picture; ``width``/``height`` are the original's display size.

    Raises:
        SkipError: the photo cannot be decoded (unreadable, unsupported).
    """
    path = walker.absolute(Path(path))
    sidecars = tuple(_read_sidecar(p) for p in walker.find_sidecars(path, {}))
    job = PhotoJob(photo=path, key="", sidecars=sidecars)
    photo = _Photo(job, ScanConfig(out=path.parent, size=size))
    stored = photo.stored
    if isinstance(stored, SkipError):
        raise stored
    if orientation is None:
        found = (photo.xmp_orientation, stored.exif_orientation)
        orientation = next((o for o in found if _valid_orientation(o)), 1)
    return imaging.display_from_stored(stored, size, orientation)


def photo_key(
    stat: os.stat_result,
    sidecars: Sequence[Sidecar],
    rows: Sequence[DevelopSettings],
    config: ScanConfig,
) -> str:
    """The incremental key of a photo: its label can only change when this does.

    It covers the photo's size and mtime_ns (embedded XMP lives in the file), the bytes
    of each sidecar, every catalog row's settings as read, and the scan settings that
    shape a sample (``--size``, ``--field``, ``--include-uncropped``).
    """
    payload = {
        "v": KEY_VERSION,
        "size": config.size,
        "fields": list(config.fields),
        "include_uncropped": config.include_uncropped,
        "photo": [stat.st_size, stat.st_mtime_ns],
        "sidecars": [
            [s.path.name, hashlib.sha256(s.packet).hexdigest() if s.packet is not None else s.error]
            for s in sidecars
        ],
        "catalog": [_row_for_key(row) for row in rows],
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _row_for_key(row: DevelopSettings) -> dict[str, Any]:
    """A catalog row's settings for the key; where the photo was looked for is no label."""
    fields = asdict(row)
    fields.pop("catalog_relative_photo", None)
    return fields


# --------------------------------------------------------------------------- the scan


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _check_arguments(
    sources: Sequence[Path],
    out: Path,
    size: int,
    catalogs: Sequence[Path],
    fields: Sequence[str],
    workers: int | None,
    path_maps: Sequence[str | relocate.PathMap] = (),
) -> tuple[tuple[str, ...], tuple[relocate.PathMap, ...]]:
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ScanError(f"--size must be a positive number of pixels, got {size!r}")
    if workers is not None and (isinstance(workers, bool) or workers < 1):
        raise ScanError(f"--workers must be at least 1, got {workers!r}")
    if not sources and not catalogs:
        raise ScanError("nothing to scan: give a SOURCE folder or file, or --catalog")
    for source in sources:
        if not source.exists():
            raise ScanError(f"SOURCE does not exist: {source}")
    for catalog in catalogs:
        if not catalog.is_file():
            raise ScanError(f"--catalog does not exist: {catalog}")
        try:
            rows = lrcat.iter_catalog(catalog)  # opens and checks the schema at once
        except ValueError as exc:
            raise ScanError(f"--catalog {catalog}: {exc}") from exc
        close = getattr(rows, "close", None)
        if close is not None:
            close()
    try:
        checked = tuple(xmp.check_field_names(list(fields)))
    except ValueError as exc:
        raise ScanError(f"--field: {exc}") from exc
    maps = []
    for path_map in path_maps:
        try:
            maps.append(
                path_map
                if isinstance(path_map, relocate.PathMap)
                else relocate.parse_path_map(path_map)
            )
        except ValueError as exc:
            raise ScanError(f"--path-map: {exc}") from exc
    if maps and not catalogs:
        raise ScanError("--path-map moves a catalog's photos; it needs --catalog")
    if out.exists() and not out.is_dir():
        raise ScanError(f"--out {out} exists and is not a folder")
    for source in sources:
        if source.is_dir() and walker.absolute(source) == walker.absolute(out):
            raise ScanError(f"--out {out} is the SOURCE folder itself; use a folder of its own")
    if out.is_dir() and not is_dataset(out) and _holds_files(out):
        raise ScanError(
            f"--out {out} is not empty and is not a data set made by `cropperhead scan`; "
            "give a new or empty folder (nothing was written)"
        )
    try:
        (out / IMAGES_DIR).mkdir(parents=True, exist_ok=True)
        if not files.is_marked(out, DATASET_KIND):
            files.mark_folder(out, DATASET_KIND)
    except OSError as exc:
        raise ScanError(f"--out {out} is not a writable folder: {exc.strerror or exc}") from exc
    return checked, tuple(maps)


def _holds_files(folder: Path) -> bool:
    """Whether anything but (nested) empty folders lies in ``folder``."""
    for _, _, names in os.walk(folder):
        if names:
            return True
    return False


def scan_library(
    sources: Sequence[Path],
    out: Path,
    *,
    size: int = 512,
    catalogs: Sequence[Path] = (),
    include_uncropped: bool = False,
    fields: Sequence[str] = (),
    prune: bool = False,
    workers: int | None = None,
    progress: bool = True,
    path_maps: Sequence[str | relocate.PathMap] = (),
) -> ScanSummary:
    """Build or update a training set from photos, sidecars and catalogs.

    This is ``cropperhead scan`` (docs/interfaces.md) as a function; the rules are in
    the :mod:`cropperhead.scan` docstring.

    Args:
        sources: folders (walked recursively) and files.
        out: the DATASET_DIR (created when absent).
        size: long side of the written images in pixels (never enlarged).
        catalogs: Lightroom Classic catalogs; all their photos are scanned.
        include_uncropped: reviewed, uncropped photos become full-frame samples.
        fields: ``crs:NAME`` develop settings to record under ``extra``.
        prune: drop samples whose source file is gone.
        workers: decoding processes; default all cores. With 1 (or fewer than four
            photos per worker to decode) photos are decoded in this process; otherwise
            in worker processes, forked where that is safe and else *spawned*, so a
            script that calls this needs the usual ``if __name__ == "__main__":`` guard.
        progress: show a progress bar on stderr (only when it is a terminal).
        path_maps: ``OLD=NEW`` texts or :class:`~cropperhead.scan.relocate.PathMap`:
            a catalog's photos under OLD now lie under NEW
            (:mod:`cropperhead.scan.relocate`).

    Returns:
        What the scan did and what the data set now holds.

    Raises:
        ScanError: bad arguments or an unusable output folder (nothing is written).
        RuntimeError: another scan is writing to ``out``, or worker processes cannot
            start.
        KeyboardInterrupt: passed on; the previous manifest stays, the next scan resumes.
    """
    sources = [Path(s) for s in sources]
    catalogs = [Path(c) for c in catalogs]
    out = Path(out)
    checked, maps = _check_arguments(sources, out, size, catalogs, fields, workers, path_maps)
    config = ScanConfig(
        out=walker.absolute(out),
        size=size,
        fields=checked,
        include_uncropped=include_uncropped,
    )
    _quiet_exifread()
    with scan_lock(out):
        scan = _Scan(config, sources, catalogs, prune, workers or _cpu_count(), progress, maps)
        return scan.run()


class _Scan:
    """One run of :func:`scan_library` (inside the output folder's lock)."""

    def __init__(
        self,
        config: ScanConfig,
        sources: list[Path],
        catalogs: list[Path],
        prune: bool,
        workers: int,
        progress: bool,
        path_maps: Sequence[relocate.PathMap] = (),
    ) -> None:
        self.config = config
        self.path_maps = tuple(path_maps)
        self.sources = sources
        self.catalogs = list(dict.fromkeys(walker.absolute(c) for c in catalogs))
        self.prune = prune
        self.workers = workers
        self.progress = progress
        self.store = ScanState(config.out)
        self.summary = ScanSummary(out=config.out)
        self.produced = EntryStore()
        self._appended = 0
        self._last_sync = 0.0
        kill = os.environ.get(KILL_HOOK_ENV, "")
        self._kill_after = int(kill) if kill.isdigit() else None

    def run(self) -> ScanSummary:
        start = time.monotonic()
        committed, journal = self.store.load()
        previous = committed.merged(journal)
        walk = walker.walk_sources(self.sources, exclude=[self.config.out])
        rows = self._read_catalogs()
        self._walk_records(walk)
        todo = self._plan(walk, rows, committed, previous, journal)
        # What _merge needs of the walk, as strings; the Path objects go.
        walked = {str(photo) for photo in walk.photo_inputs}
        del walk
        self._committed = committed
        self.store.open_journal()
        try:
            self._run_jobs(self._jobs(todo, rows), len(todo))
        finally:
            self.store.close_journal()
        del rows, self._committed
        final = self._merge(previous, walked)
        written = _image_names(previous) | _image_names(self.produced)
        del previous, committed, journal
        self.store.commit(final)
        outputs = write_outputs(self.config.out, final)
        self._collect_garbage(outputs.images, written)
        self.summary.samples_by_origin = dict(outputs.samples_by_origin)
        self.summary.skipped_by_reason = dict(outputs.skipped_by_reason)
        self.summary.seconds = time.monotonic() - start
        return self.summary

    # ---- inputs

    def _read_catalogs(self) -> dict[Path, list[DevelopSettings]]:
        rows: dict[Path, list[DevelopSettings]] = {}
        self.row_catalogs: dict[Path, set[str]] = {}
        for catalog in self.catalogs:
            entry = new_entry(f"catalog:{catalog}", "input", input_path=str(catalog))
            entry["catalogs"] = [str(catalog)]
            try:
                items = list(lrcat.iter_catalog(catalog, self.config.fields))
            except ValueError as exc:
                raise ScanError(f"--catalog {catalog}: {exc}") from exc
            missing: list[str] = []
            for item in items:
                if not isinstance(item, DevelopSettings):
                    entry["skipped"].append(skipped_record(item.source, item.reason, item.detail))
                    continue
                if item.photo is None:
                    entry["skipped"].append(
                        skipped_record(catalog, BAD_METADATA, "catalog row without a file path")
                    )
                    continue
                found, tried = relocate.locate_catalog_photo(item, self.path_maps)
                if found is None:
                    copy = f" (virtual copy {item.copy_name!r})" if item.copy_name else ""
                    elsewhere = f"; also looked at {', '.join(tried[1:])}" if tried[1:] else ""
                    entry["skipped"].append(
                        skipped_record(
                            item.photo,
                            MISSING_FILE,
                            f"{catalog.name} lists this photo{copy} but the file is gone"
                            + elsewhere,
                        )
                    )
                    missing.append(str(item.photo))
                    continue
                photo = walker.absolute(found)
                rows.setdefault(photo, []).append(item)
                self.row_catalogs.setdefault(photo, set()).add(str(catalog))
            self.produced[entry["id"]] = entry
            self._hint_missing(catalog, missing)
        return rows

    def _hint_missing(self, catalog: Path, missing: list[str]) -> None:
        """Suggest a --path-map when a catalog's photos are not where it says."""
        folder = relocate.suggest_path_map(missing)
        if folder is None:
            return
        self.summary.hints.append(
            f"{len(missing)} photo(s) of {catalog.name} are not where it says (under "
            f"{folder}); if they moved, tell the scan where they are now: "
            f"--path-map '{folder}=/where/they/are/now'"
        )

    def _walk_records(self, walk: walker.WalkResult) -> None:
        for path, root, why in walk.unreadable:
            entry = new_entry(f"file:{path}", "input", input_path=str(root))
            entry["skipped"].append(skipped_record(path, UNREADABLE, why))
            self.produced[entry["id"]] = entry
        for sidecar, root in walk.orphans:
            entry = new_entry(f"file:{sidecar}", "input", input_path=str(root))
            entry["skipped"].append(
                skipped_record(sidecar, MISSING_FILE, "XMP sidecar whose photo is not beside it")
            )
            self.produced[entry["id"]] = entry
        for path, root in walk.unsupported:
            entry = new_entry(f"file:{path}", "input", input_path=str(root))
            entry["skipped"].append(
                skipped_record(
                    path,
                    UNSUPPORTED,
                    f"{path.suffix or path.name!r} is not a photo format read here",
                )
            )
            self.produced[entry["id"]] = entry

    def _plan(
        self,
        walk: walker.WalkResult,
        rows: dict[Path, list[DevelopSettings]],
        committed: EntryStore,
        previous: EntryStore,
        journal: EntryStore,
    ) -> deque[_ToDo]:
        """Decide, per photo, whether its entry can be reused; return the photos to label.

        A photo to label is kept as a small tuple of strings, not as a
        :class:`PhotoJob` (Path objects, sidecar records): :meth:`_jobs` builds the jobs
        one at a time while the workers run, so that a large library does not hold a
        job per photo next to the entries it produces.
        """
        todo: deque[_ToDo] = deque()
        roots: dict[Path, str] = {}  # one str per SOURCE argument, shared by its photos
        given = {str(c) for c in self.catalogs}
        sidecar_cache: dict[Path, dict[str, list[Path]]] = {}
        names_cache: dict[Path, dict[str, list[str]]] = {}
        for photo in sorted(set(walk.photos) | set(rows)):
            photo_id = str(photo)
            photo_rows = rows.get(photo, [])
            input_root = walk.photo_inputs.get(photo)
            before = previous.get(photo_id)
            if (
                not photo_rows
                and before is not None
                and before.get("catalogs")
                and not set(before["catalogs"]) & given
                and self._images_exist(before)
            ):
                # Labelled from a catalog not given now: the catalog stays the truth.
                self.produced.set_raw(photo_id, previous.raw(photo_id))
                self._count(committed, photo, before["key"], journal)
                continue
            try:
                stat = photo.stat()
            except OSError as exc:
                entry = new_entry(photo_id, "photo", "", str(input_root) if input_root else None)
                entry["skipped"].append(
                    skipped_record(photo, UNREADABLE, f"cannot read: {exc.strerror or exc}")
                )
                self.produced[photo_id] = entry
                continue
            sidecars = tuple(
                _read_sidecar(p) for p in walker.find_sidecars(photo, sidecar_cache, names_cache)
            )
            key = photo_key(stat, sidecars, photo_rows, self.config)
            if before is not None and before.get("key") == key and self._images_exist(before):
                self.produced.set_raw(photo_id, previous.raw(photo_id))
                self._count(committed, photo, key, journal)
                continue
            root = None if input_root is None else roots.setdefault(input_root, str(input_root))
            todo.append((photo_id, key, root, tuple(str(s.path) for s in sidecars)))
        return todo

    def _jobs(
        self, todo: deque[_ToDo], rows: dict[Path, list[DevelopSettings]]
    ) -> Iterator[PhotoJob]:
        """The jobs of :meth:`_plan`'s to-do list, built (and dropped) one at a time.

        Sidecars travel without their bytes; the worker reads them again.
        """
        while todo:
            photo_id, key, root, sidecars = todo.popleft()
            photo = Path(photo_id)
            yield PhotoJob(
                photo=photo,
                key=key,
                input=root,
                sidecars=tuple(Sidecar(Path(p), None) for p in sidecars),
                catalog_rows=tuple(rows.get(photo, ())),
                catalogs=tuple(sorted(self.row_catalogs.get(photo, ()))),
            )

    def _images_exist(self, entry: Entry) -> bool:
        """Whether every image of ``entry`` is there and whole (else it is made again)."""
        return all(
            imaging.jpeg_is_complete(self.config.out / s["image"]) for s in entry.get("samples", ())
        )

    def _count(
        self,
        committed: EntryStore,
        photo: Path,
        key: str,
        journal: EntryStore | None = None,
    ) -> None:
        before = committed.get(str(photo))
        if before is None:
            self.summary.new += 1
        elif before.get("key") == key:
            self.summary.unchanged += 1
            return
        else:
            self.summary.updated += 1
        if journal is not None and str(photo) in journal:
            self.summary.resumed += 1

    # ---- running

    def _finish(self, entry: Entry, decoded: bool) -> None:
        self.produced[entry["id"]] = entry
        self._count(self._committed, Path(entry["id"]), entry["key"])
        self.summary.decoded += int(decoded)
        now = time.monotonic()
        sync = now - self._last_sync >= JOURNAL_SYNC_S
        self.store.append(entry, sync=sync)
        if sync:
            self._last_sync = now
        self._appended += 1
        if self._kill_after is not None and self._appended >= self._kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    def _run_jobs(self, jobs: Iterable[PhotoJob], count: int) -> None:
        """Label ``count`` photos (``jobs`` yields exactly that many)."""
        if not count:
            return
        bar = _progress_bar(count, self.progress)
        try:

            def done(entry: Entry, decoded: bool) -> None:
                self._finish(entry, decoded)
                bar.update(1)

            # A worker process costs about a second to start: only worth it with work.
            workers = min(self.workers, max(1, count // PHOTOS_PER_WORKER))
            if workers <= 1:
                for job in jobs:
                    done(*process_photo(job, self.config))
            else:
                _run_pool(jobs, self.config, workers, done, count)
        finally:
            bar.close()

    # ---- the new state

    def _merge(self, previous: EntryStore, walked: set[str]) -> EntryStore:
        given = {str(c) for c in self.catalogs}
        roots = [walker.absolute(s) for s in self.sources]
        final = EntryStore()
        for entry_id in previous:
            if entry_id in self.produced:
                continue
            entry = previous[entry_id]
            if entry.get("kind") == "input":
                source = Path(entry_id.split(":", 1)[1])
                looked_again = (entry_id.startswith("catalog:") and str(source) in given) or (
                    entry_id.startswith("file:") and any(source.is_relative_to(r) for r in roots)
                )
                if looked_again or (self.prune and not source.exists()):
                    continue
                final.set_raw(entry_id, previous.raw(entry_id))
                continue
            photo = Path(entry_id)
            dropped_from_catalog = (
                bool(set(entry.get("catalogs", ())) & given) and entry_id not in walked
            )
            if self.prune and (not photo.exists() or dropped_from_catalog):
                self.summary.pruned += 1
                continue
            final.set_raw(entry_id, previous.raw(entry_id))
        for entry_id in self.produced:
            final.set_raw(entry_id, self.produced.raw(entry_id))
        return final

    def _collect_garbage(self, used: set[str], written: set[str]) -> None:
        """Delete the images of ours that the data set no longer uses, and our temporaries.

        An image is ours when a scan's state names it (``written``: the previous state,
        the journal and this run) or when it carries the scan's JPEG comment (written by
        a worker whose result never reached the journal). A file merely named like one
        of ours is left alone.
        """
        remove_stale_temporaries(self.config.out)
        images_dir = self.config.out / IMAGES_DIR
        try:
            names = os.listdir(images_dir)
        except OSError:
            return
        for name in names:
            if name in used or not IMAGE_NAME_RE.match(name):
                continue
            path = images_dir / name
            if name in written or imaging.is_scan_image(path):
                with contextlib.suppress(OSError):
                    path.unlink()


def _image_names(entries: EntryStore) -> set[str]:
    """The image file names the samples of ``entries`` refer to."""
    names: set[str] = set()
    for entry_id in entries:
        for sample in entries[entry_id].get("samples", ()):
            names.add(Path(sample["image"]).name)
    return names


def _progress_bar(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    # No monitor thread: a second thread would rule out forking the workers.
    tqdm.monitor_interval = 0
    return tqdm(
        total=total,
        unit="photo",
        desc="scan",
        file=sys.stderr,
        disable=not (enabled and sys.stderr.isatty()),
        dynamic_ncols=True,
    )


def _worker_init(level: int, parent_pid: int) -> None:
    # Ctrl-C reaches the whole process group; the main process handles it alone.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    _quiet_exifread()
    # A pool worker whose scan was killed (kill -9) would wait for work forever: its
    # queue's other end lives in the worker too. Leave as soon as the parent is gone.
    exit_with_parent(parent_pid)


def _quiet_exifread() -> None:
    # exifread warns about every JPEG without an EXIF block (see metadata/exif.py).
    logging.getLogger("exifread").setLevel(logging.ERROR)


def _crashed_entry(job: PhotoJob) -> Entry:
    # An empty key: the next scan tries again (the crash may have been the OOM killer).
    entry = new_entry(str(job.photo), "photo", "", job.input, job.catalogs)
    entry["skipped"].append(
        skipped_record(job.photo, UNREADABLE, "the decoder crashed on this file")
    )
    return entry


def _new_pool(context: Any, workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_worker_init,
        initargs=(logging.getLogger().getEffectiveLevel(), os.getpid()),
    )


class _Pending:
    """The jobs not yet submitted: read lazily from an iterator, plus jobs put back."""

    def __init__(self, jobs: Iterable[PhotoJob], count: int) -> None:
        self._jobs = iter(jobs)
        self._back: deque[PhotoJob] = deque()
        self._left = count

    def __len__(self) -> int:
        return self._left

    def popleft(self) -> PhotoJob:
        job = self._back.popleft() if self._back else next(self._jobs)
        self._left -= 1
        return job

    def appendleft(self, job: PhotoJob) -> None:
        self._back.appendleft(job)
        self._left += 1


def _run_pool(
    jobs: Iterable[PhotoJob],
    config: ScanConfig,
    workers: int,
    done: Callable[[Entry, bool], None],
    count: int | None = None,
) -> None:
    """Run jobs on a process pool; survive workers that die on a bad file.

    When a worker dies (a decoder crash, the OOM killer), the pool breaks and every
    photo in flight fails; those are retried one at a time in a one-worker pool (a new
    one after each death), the one that kills that too is recorded as ``unreadable``,
    and a fresh pool takes the rest.

    Args:
        jobs: the jobs, read as the pool takes them (a generator is fine).
        config: the scan settings.
        workers: processes.
        done: called with each finished ``(entry, decoded)``.
        count: how many jobs ``jobs`` yields; needed when it has no ``len``.
    """
    context = _pool_context()
    pending = _Pending(jobs, len(jobs) if count is None else count)  # type: ignore[arg-type]
    while pending:
        crashed: list[PhotoJob] = []
        pool = _new_pool(context, min(workers, len(pending)))
        inflight: dict[Any, PhotoJob] = {}
        try:
            while pending or inflight:
                while pending and len(inflight) < 2 * workers:
                    job = pending.popleft()
                    try:
                        inflight[pool.submit(process_photo, job, config)] = job
                    except BrokenProcessPool:
                        pending.appendleft(job)
                        raise
                finished, _ = wait(inflight, return_when=FIRST_COMPLETED)
                for future in finished:
                    job = inflight.pop(future)
                    try:
                        entry, decoded = future.result()
                    except BrokenProcessPool:
                        crashed.append(job)
                        continue
                    done(entry, decoded)
        except BrokenProcessPool:
            crashed.extend(inflight.values())
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        if crashed:
            _run_isolated(crashed, config, context, done)


def _pool_context() -> Any:
    """``fork`` where it is safe, else ``spawn``.

    Safe: Linux, this process runs a single thread and has not imported torch. Forked
    workers start at once; spawned ones first import Python, numpy, Pillow and the
    decoders (about 0.35 s of CPU each), which measurably slows a scan (see
    benchmarks/README.md, "Scan"). Forking a process with other threads, or one whose
    OpenMP pool (torch) is running, can deadlock the child, hence the conditions.
    """
    if (
        sys.platform.startswith("linux")
        and threading.active_count() == 1
        and "torch" not in sys.modules
    ):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _run_isolated(
    jobs: list[PhotoJob],
    config: ScanConfig,
    context: Any,
    done: Callable[[Entry, bool], None],
) -> None:
    """Run jobs one at a time in a one-worker pool, replaced after each death.

    Raises:
        RuntimeError: worker processes cannot even start (a script without the
            ``__main__`` guard, a broken environment); without this check every photo
            would look like a decoder crash.
    """
    pool = _new_pool(context, 1)
    try:
        try:
            pool.submit(os.getpid).result(timeout=120)
        except Exception as exc:
            raise RuntimeError(
                f"worker processes cannot start ({type(exc).__name__}); run the scan with "
                "--workers 1 (workers=1), or call it under `if __name__ == '__main__':`"
            ) from exc
        for job in jobs:
            try:
                done(*pool.submit(process_photo, job, config).result())
            except BrokenProcessPool:
                logger.warning("%s: the decoder crashed", job.photo)
                done(_crashed_entry(job), True)
                pool.shutdown(wait=True)
                pool = _new_pool(context, 1)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


__all__ = [
    "KEY_VERSION",
    "Decision",
    "PhotoJob",
    "ScanConfig",
    "ScanError",
    "ScanSummary",
    "decide",
    "image_name",
    "label_display",
    "photo_key",
    "process_photo",
    "scan_library",
]
