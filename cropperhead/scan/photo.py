"""One photo in, samples and skip records out: the work a scan hands to its workers.

:func:`process_photo` runs in the worker processes (:mod:`cropperhead.scan.pool`): it
reads the photo's metadata, decides (:mod:`cropperhead.scan.rules`), decodes the
picture once, writes one display-oriented JPEG per sample and returns a state entry
(see :mod:`cropperhead.scan.state`). Everything a worker gets (:class:`PhotoJob`,
:class:`ScanConfig`) is picklable, since workers may be spawned. :func:`load_photo`
shows predict and the reports a photo exactly as this code shows it to the scan.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from cropperhead import imaging
from cropperhead.data.manifest import corners_record, crop_record
from cropperhead.metadata.photo import (
    PhotoGeometry,
    PhotoMetadata,
    SidecarRead,
    read_sidecar_bytes,
)
from cropperhead.metadata.types import (
    NO_METADATA,
    ORIGIN_DARKTABLE,
    UNREADABLE,
    UNSUPPORTED,
    DevelopSettings,
    SkipError,
)
from cropperhead.scan import walker
from cropperhead.scan.manifest import IMAGES_DIR, manifest_record, skipped_record
from cropperhead.scan.rules import Decision, decide, label_display
from cropperhead.scan.state import Entry, new_entry

logger = logging.getLogger(__name__)

#: JPEG quality of the images written.
JPEG_QUALITY = 95
#: Sidecars larger than this are not read (no real sidecar comes near it).
MAX_SIDECAR_BYTES = 32 * 1024 * 1024


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


def _read_sidecar(path: Path) -> Sidecar:
    read = read_sidecar_bytes(path, MAX_SIDECAR_BYTES)
    return Sidecar(path, read.packet, read.error)


@dataclass(frozen=True)
class PhotoJob:
    """Everything a worker needs to process one photo.

    Attributes:
        photo: absolute path of the photo.
        key: the incremental key (see :func:`cropperhead.scan.keys.photo_key`).
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
                crop=crop_record(crop),
                # The scan's corners are already inside [0, 1] (label_display clips them).
                corners=corners_record(corners, clip=False),
                origin=chosen.origin,
                extra={f: str(chosen.fields[f]) for f in config.fields if f in chosen.fields},
            )
        )


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
