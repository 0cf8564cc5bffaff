"""Write predicted crops into the XMP sidecars that photo editors read.

Which sidecar a photo's crop goes to (``xmp_target``), and which editor reads it, is
:mod:`cropperhead.predict.sidecars`; this module writes it there. Each file is written
in the form of the editor that owns it: a sidecar darktable develops the photo from gets
history steps (:func:`cropperhead.metadata.darktable.merge_crop_into_darktable`), every
other one Camera Raw's crs values. A darktable sidecar without a developed history is
not written (``darktable-history``): darktable would not read a crop there.

What is written
---------------
Lightroom's stored-frame form: the display-frame crop is converted with
:func:`cropperhead.geometry.crop_display_to_stored`, using the photo's stored size and the
orientation the prediction was made under (the scan's rule: XMP tiff:Orientation, else
EXIF), the exact inverse of what ``cropperhead scan`` does when it reads the crop.
:func:`cropperhead.metadata.xmp.write_sidecar_crop` merges it: only crs:HasCrop and
crs:CropLeft/Top/Right/Bottom/Angle change, and the photo's frame is added where the
sidecar has none: tiff:ImageWidth and tiff:ImageLength (the stored size: the display size
turned back by the orientation) and tiff:Orientation (that orientation), which darktable
needs to import the crop. A sidecar that already states another frame keeps it; the
result's ``detail`` says so and a warning is logged. Every other byte is kept; the file
is replaced atomically and the previous version is kept as ``IMG_1.xmp.bak`` (then
``.bak.1``, ...). A photo without a sidecar gets a new minimal one.

A darktable history gets the same crop as a rotation step (ashift) and a crop step,
shown with darktable's orientation (its flip step, else the photo's EXIF orientation),
appended with ``history_end`` moved; merged, backed up and replaced atomically the same
way (:func:`cropperhead.metadata.darktable.merge_crop_into_darktable` lists what it
refuses).

When nothing is written
-----------------------
- The photo already has a crop made by the photographer: a live crop (crs:HasCrop True
  and AlreadyApplied not True, or an active crop module of a darktable history) in any
  of its sidecars (the ones ``cropperhead scan`` reads and the target) or in its embedded
  XMP. It is kept unless ``overwrite=True``. A file that CropperHead itself wrote and
  nobody saved since holds an earlier *prediction* and is replaced: a sidecar it created
  that still holds nothing but the crop (:func:`made_by_cropperhead`), or a darktable
  sidecar whose digest marker still matches. Once an editor has saved that file, its
  crop counts as the photographer's. A crop that prediction merged into an existing
  Lightroom sidecar cannot be told apart from the photographer's: predicting again keeps
  it unless ``overwrite=True``.
- Its metadata cannot be read safely (malformed XML, ...): whether it holds a crop is
  unknown, so it is left alone unless ``overwrite=True``; a target sidecar that cannot be
  edited safely is never written.
- The target sidecar says crs:AlreadyApplied True (an exported picture whose pixels
  already are a crop): Camera Raw would ignore a crop written there.
- The target is a darktable sidecar that cannot take the crop (``darktable-history``:
  not developed yet, undone steps, a perspective correction, ...; the detail says which).
- The target sidecar is a symbolic link that leaves the photo's folder, or points at
  nothing (``sidecar-link``): following it could create or rewrite a file anywhere. A
  link to an existing file in the photo's own folder is followed, and that file edited.
- The target is not a regular file (a FIFO, a device): never opened, never replaced.
- ``dry_run=True``: everything is checked and reported, nothing is written.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cropperhead import files
from cropperhead.geometry import (
    Crop,
    crop_display_to_stored,
    crop_stored_to_display,
    display_size,
)
from cropperhead.metadata import darktable, xmp
from cropperhead.metadata.exif import read_exif_orientation
from cropperhead.metadata.photo import (
    EDITOR_DARKTABLE,
    MAX_SIDECAR_BYTES,
    SIDECAR,
    PhotoGeometry,
    PhotoMetadata,
    Place,
    made_by_cropperhead,
    read_sidecar_bytes,
)
from cropperhead.metadata.types import SkipError
from cropperhead.predict.sidecars import SidecarConflict, sidecar_targets

logger = logging.getLogger(__name__)

#: Outcomes (``WritebackResult.action``).
WRITTEN = "written"
UNCHANGED = "unchanged"
WOULD_WRITE = "would-write"
KEPT = "kept-existing-crop"
SKIPPED = "skipped"

#: Reasons of skipped write-backs.
SIDECAR_CONFLICT = "sidecar-conflict"
BAD_METADATA = "bad-metadata"
ALREADY_APPLIED = "crop-already-applied"
WRITE_FAILED = "write-failed"
SIDECAR_LINK = "sidecar-link"
DARKTABLE_HISTORY = "darktable-history"

#: A darktable history already holding the new crop this closely is left as it is.
_SAME_CROP = 1e-4


@dataclass(frozen=True)
class WritebackResult:
    """What happened to one photo's XMP.

    Attributes:
        photo: the photo.
        action: :data:`WRITTEN`, :data:`UNCHANGED` (the sidecar already holds this crop),
            :data:`WOULD_WRITE` (dry run), :data:`KEPT` (the photographer's crop stays) or
            :data:`SKIPPED` (see ``reason``).
        targets: the sidecar(s) written or that would be written.
        crop_stored: the crop as written (stored frame, crs:Crop* values).
        new_crop: the same crop in the display frame.
        old_crop: the crop found in the photo's metadata, display frame, or None.
        old_source: the file that crop was read from.
        reason: why nothing was written (:data:`SKIPPED` only).
        detail: one human-readable line (for a write: what was left as it was).
        backups: backups made of the previous sidecar content.
    """

    photo: Path
    action: str
    targets: tuple[Path, ...]
    crop_stored: Crop | None
    new_crop: Crop
    old_crop: Crop | None = None
    old_source: Path | None = None
    reason: str | None = None
    detail: str = ""
    backups: tuple[Path, ...] = ()

    def describe(self) -> str:
        """One line: photo, target, old -> new crop (display frame), outcome."""
        where = ", ".join(t.name for t in self.targets) or "-"
        old = _format_crop(self.old_crop) if self.old_crop is not None else "none"
        change = f"crop {old} -> {_format_crop(self.new_crop)}"
        label = {
            WRITTEN: "written",
            UNCHANGED: "unchanged",
            WOULD_WRITE: "would write",
            KEPT: "kept",
            SKIPPED: f"skipped ({self.reason})",
        }[self.action]
        text = f"{self.photo}: {where}: {change} [{label}]"
        return f"{text}: {self.detail}" if self.detail else text


def _format_crop(crop: Crop) -> str:
    return (
        f"(left {crop.left:.4f}, top {crop.top:.4f}, right {crop.right:.4f}, "
        f"bottom {crop.bottom:.4f}, angle {crop.angle:+.2f})"
    )


def crop_to_xmp(crop: Crop, width: int, height: int, orientation: int) -> Crop:
    """A display-frame crop as Lightroom stores it (crs:Crop*, stored frame).

    Args:
        crop: display-frame crop.
        width: display width W' of the photo.
        height: display height H'.
        orientation: EXIF orientation 1..8 the display frame was made with.

    Returns:
        The stored-frame crop.
    """
    stored_w, stored_h = display_size(width, height, orientation)
    return crop_display_to_stored(crop, stored_w, stored_h, orientation)


def _link_refusal(photo: Path, sidecar: Path) -> str | None:
    """Why ``sidecar`` may not be written, when it is a symbolic link; else None.

    A sidecar link is followed only to an existing file in the photo's own folder
    (edited there, the link kept). A link that leaves the folder, or that points at
    nothing, could make write-back create or rewrite a file anywhere: refused.
    """
    if not sidecar.is_symlink():
        return None
    target = Path(os.path.realpath(sidecar))
    if not target.is_file():
        return f"{sidecar.name} is a link to nothing ({target}); not written through"
    if target.parent != Path(os.path.realpath(photo.parent)):
        return f"{sidecar.name} links out of the photo's folder (to {target}); not written"
    return None


def _geometry_of(photo: Path, stored_w: float, stored_h: float, orientation: int) -> PhotoGeometry:
    """The photo's geometry for its darktable sidecars.

    The stored size is the prediction's (display size turned back); the EXIF orientation
    is read from the file, or is the prediction's when the file's cannot be read (RAW
    formats exifread does not parse: the prediction's then came from LibRaw).
    """
    exif = read_exif_orientation(photo)
    return PhotoGeometry(stored_w, stored_h, exif if exif is not None else orientation)


def _shown_crop(place: Place, geometry: PhotoGeometry, orientation: int) -> Crop | None:
    """A place's crop in the prediction's display frame, or None."""
    settings = place.settings
    if settings is None or settings.crop is None:
        return None
    w, h = geometry.width_px, geometry.height_px
    try:
        stored = settings.crop
        if settings.crop_frame == "display":
            shown_with = settings.orientation or geometry.exif_orientation or 1
            stored = crop_display_to_stored(stored, w, h, shown_with)
        return crop_stored_to_display(stored, w, h, orientation)
    except ValueError:
        return None


@dataclass
class _Edit:
    path: Path
    existing: bytes | None
    merged: bytes
    darktable: bool


def _plan_edit(
    path: Path,
    stored: Crop,
    size: tuple[int, int],
    orientation: int,
    geometry: PhotoGeometry,
    notes: list[str],
) -> _Edit | tuple[str, str]:
    """The new content of one target, or ``(reason, detail)`` why it cannot be written."""
    try:
        existing = files.read_regular(path, MAX_SIDECAR_BYTES) if os.path.lexists(path) else None
    except (ValueError, OSError) as exc:
        return BAD_METADATA, f"{path.name}: {getattr(exc, 'strerror', None) or exc}"
    if existing is not None and darktable.is_darktable_xmp(existing):
        if not darktable.is_developed(existing):
            stem = xmp.default_sidecar_path(path.with_suffix(""))
            return DARKTABLE_HISTORY, (
                f"{path.name} is darktable's sidecar but darktable has not developed the "
                f"photo yet: it reads a crop from the Lightroom sidecar {stem.name} instead"
            )
        try:
            merged = darktable.merge_crop_into_darktable(
                existing,
                stored,
                (geometry.width_px, geometry.height_px),
                geometry.exif_orientation,
            )
        except ValueError as exc:
            return DARKTABLE_HISTORY, f"{path.name}: {exc}"
        return _Edit(path, existing, merged, darktable=True)
    try:
        merged = xmp.merge_crop_into_xmp(existing, stored, image_size=size, orientation=orientation)
    except ValueError as exc:
        return BAD_METADATA, f"{path.name}: {exc}"
    notes += [
        f"{path.name}: {c}; left as it is" for c in xmp.tiff_conflicts(existing, size, orientation)
    ]
    return _Edit(path, existing, merged, darktable=False)


def _write_darktable(edit: _Edit, backup: bool) -> Path | None:
    """Replace a darktable sidecar with its merged history: backup, then atomic write."""
    path = edit.path
    if path.is_symlink():
        target = path.resolve()
        if not target.is_file():
            raise ValueError(f"{path.name} is a link to nothing ({target}); not written through")
        path = target
    mode = files.check_regular(path).st_mode & 0o7777
    current = files.read_regular(path, MAX_SIDECAR_BYTES)
    if current != edit.existing:
        raise ValueError(f"{path.name} changed while the crop was prepared; not written")
    files.remove_stale_temporaries(path.parent, {path.name})
    made = files.write_backup(path, current, mode) if backup else None
    files.atomic_write(path, edit.merged, file_mode=mode)
    return made


def _holds_crop(place: Place | None, crop: Crop, geometry: PhotoGeometry, orientation: int) -> bool:
    """Whether a darktable place's crop already is ``crop`` (display frame)."""
    if place is None:
        return False
    shown = _shown_crop(place, geometry, orientation)
    if shown is None:
        return crop.is_full_frame(tol=_SAME_CROP)
    return bool(np.abs(shown.as_array() - crop.as_array()).max() <= _SAME_CROP)


def write_crop(
    photo: Path,
    crop: Crop,
    width: int,
    height: int,
    orientation: int,
    *,
    target: str = "auto",
    overwrite: bool = False,
    dry_run: bool = False,
    backup: bool = True,
) -> WritebackResult:
    """Write a predicted display-frame crop into the photo's XMP sidecar(s).

    Args:
        photo: the photo.
        crop: display-frame crop.
        width: display width W' of the photo.
        height: display height H'.
        orientation: EXIF orientation 1..8 the prediction was made under.
        target: ``auto``, ``stem``, ``name`` or ``both``.
        overwrite: replace a crop the photographer made (and write where the metadata
            could not be read).
        dry_run: check everything, write nothing.
        backup: keep the previous sidecar as ``.bak`` (see ``write_sidecar_crop``).

    Returns:
        What happened. Problems with one photo's files are reported here, never raised.

    Raises:
        ValueError: unknown ``target``.
    """
    photo = Path(photo)
    stored = crop_to_xmp(crop, width, height, orientation)
    stored_w, stored_h = display_size(width, height, orientation)
    size = (round(stored_w), round(stored_h))
    lazy: dict[str, PhotoGeometry] = {}

    def geometry() -> PhotoGeometry:
        if "g" not in lazy:
            lazy["g"] = _geometry_of(photo, stored_w, stored_h, orientation)
        return lazy["g"]

    metadata = PhotoMetadata(photo, geometry=geometry)
    try:
        targets = sidecar_targets(photo, target, metadata)
    except SidecarConflict as exc:
        return WritebackResult(
            photo, SKIPPED, (), stored, crop, reason=SIDECAR_CONFLICT, detail=str(exc)
        )

    def result(action: str, **kw: object) -> WritebackResult:
        return WritebackResult(photo, action, tuple(targets), stored, crop, **kw)

    places = _places_of(photo, metadata, targets, geometry)
    live = _photographers_crops(metadata, places)
    old_crop = _shown_crop(live[0], geometry(), orientation) if live else None
    old = {"old_crop": old_crop, "old_source": live[0].path if live else None}
    refused = _refusal(photo, places, targets, live, overwrite)
    if refused is not None:
        action, reason, detail = refused
        return result(action, reason=reason, detail=detail, **old)

    by_path = {place.path: place for place in places if place.kind == SIDECAR}
    notes: list[str] = []
    edits = _plan_edits(targets, by_path, crop, stored, size, orientation, geometry(), notes)
    if isinstance(edits, tuple):
        return result(SKIPPED, reason=edits[0], detail=edits[1], **old)
    detail = "; ".join(notes)
    for note in notes:
        logger.warning("%s: %s", photo, note)
    if not edits:
        return result(UNCHANGED, detail=detail, **old)
    if dry_run:
        return result(WOULD_WRITE, detail=detail, **old)
    backups = _write_edits(edits, stored, size, orientation, backup)
    if isinstance(backups, str):
        return result(SKIPPED, reason=WRITE_FAILED, detail=backups, **old)
    return result(WRITTEN, backups=tuple(backups), detail=detail, **old)


def _places_of(
    photo: Path, metadata: PhotoMetadata, targets: list[Path], geometry: Callable[[], PhotoGeometry]
) -> list[Place]:
    """Every place of the photo's metadata, and the target sidecars the scan does not read."""
    places = metadata.places()
    extra = [t for t in targets if os.path.exists(t) and metadata.find(t) is None]
    if extra:
        reads = [read_sidecar_bytes(t) for t in extra]
        places += PhotoMetadata(photo, reads, geometry=geometry).sidecars
    return places


def _photographers_crops(metadata: PhotoMetadata, places: list[Place]) -> list[Place]:
    """The places with a crop of the photographer's, the one that decides first."""
    live = [p for p in places if p.photographers_crop]
    deciding = metadata.deciding
    if deciding in live:
        live.remove(deciding)
        live.insert(0, deciding)
    return live


def _refusal(
    photo: Path, places: list[Place], targets: list[Path], live: list[Place], overwrite: bool
) -> tuple[str, str | None, str] | None:
    """Why nothing may be written, as ``(action, reason, detail)``; None when it may be.

    In this order: a target says crs:AlreadyApplied, the photographer's crop is kept,
    metadata that cannot be read (both unless ``overwrite``), a target link that may not
    be followed.
    """
    applied = [
        p
        for p in places
        if p.path in targets and p.settings is not None and p.settings.already_applied
    ]
    if applied:
        return (
            SKIPPED,
            ALREADY_APPLIED,
            f"{applied[0].path.name} says crs:AlreadyApplied=True (an exported picture): "
            "Camera Raw would not apply a crop written there",
        )
    if live and not overwrite:
        return (
            KEPT,
            None,
            f"{live[0].describe()} holds the photographer's crop; overwrite=true replaces it",
        )
    problems = [p for p in places if p.error is not None]
    if problems and not overwrite:
        err = problems[0].error
        return (
            SKIPPED,
            BAD_METADATA,
            f"cannot tell whether {problems[0].path.name} holds a crop ({err.detail}); "
            "overwrite=true writes anyway",
        )
    for path in targets:
        refusal = _link_refusal(photo, path)
        if refusal is not None:
            return SKIPPED, SIDECAR_LINK, refusal
    return None


def _plan_edits(
    targets: list[Path],
    by_path: dict[Path, Place],
    crop: Crop,
    stored: Crop,
    size: tuple[int, int],
    orientation: int,
    geometry: PhotoGeometry,
    notes: list[str],
) -> list[_Edit] | tuple[str, str]:
    """The targets' new contents (those that change), or ``(reason, detail)`` of a refusal."""
    edits: list[_Edit] = []
    for path in targets:
        place = by_path.get(path)
        if (
            place is not None
            and place.editor == EDITOR_DARKTABLE
            and place.darktable_developed
            and _holds_crop(place, crop, geometry, orientation)
        ):
            continue  # the history already makes this crop: appending would repeat it
        planned = _plan_edit(path, stored, size, orientation, geometry, notes)
        if isinstance(planned, tuple):
            return planned
        if planned.merged != planned.existing:
            edits.append(planned)
    return edits


def _write_edits(
    edits: list[_Edit], stored: Crop, size: tuple[int, int], orientation: int, backup: bool
) -> list[Path] | str:
    """Write the planned edits; the backups made, or the detail of the first failure."""
    backups: list[Path] = []
    for edit in edits:
        try:
            if edit.darktable:
                made = _write_darktable(edit, backup)
            else:
                made = xmp.write_sidecar_crop(
                    edit.path, stored, backup=backup, image_size=size, orientation=orientation
                )
        except (ValueError, OSError, SkipError) as exc:
            return f"{edit.path.name}: {exc}"
        if made is not None:
            backups.append(made)
    return backups


__all__ = [
    "WritebackResult",
    "crop_to_xmp",
    "made_by_cropperhead",
    "write_crop",
]
