"""Write predicted crops into the XMP sidecars that photo editors read.

Which file (``xmp_target``)
---------------------------
Image files are never modified: every crop goes into an XMP *sidecar* beside the photo.

- ``auto`` (default): ``IMG_1.xmp`` (the photo's name with ``.xmp`` for its extension),
  except when another photo with the same stem lies beside it (``IMG_1.CR2`` next to
  ``IMG_1.JPG``): then the RAW keeps ``IMG_1.xmp`` and the other photo gets
  ``IMG_1.JPG.xmp``, so that two photos never share (and overwrite) one sidecar.
- ``stem``: always ``IMG_1.xmp``; refused for a photo whose stem sidecar belongs to (or is
  shared with) another photo beside it.
- ``name``: always ``IMG_1.JPG.xmp`` / ``IMG_1.CR2.xmp``.
- ``both``: ``stem`` and ``name``.

An existing sidecar of that name in another capitalisation (``IMG_1.XMP``) is edited in
place instead of adding a second file.

Who reads what:

- **RAW files** (CR2, NEF, ARW, ...): Lightroom Classic and Camera Raw (Bridge,
  Photoshop) read ``IMG_1.xmp``. Lightroom picks the new crop up with *Metadata > Read
  Metadata from Files* (it shows the "metadata was changed externally" badge).
- **JPEG, TIFF, PSD and DNG**: Lightroom Classic reads their XMP *embedded in the file*
  and ignores sidecars, so ``IMG_1.xmp`` does not reach Lightroom for them (Camera Raw
  reads a DNG's sidecar unless "Ignore sidecar .xmp files" is set in its DNG file
  handling preferences). To bring such a crop into Lightroom, copy it into the file
  yourself, which rewrites the file (keep a backup), e.g.
  ``exiftool -tagsfromfile IMG_1.xmp -xmp-crs:all IMG_1.JPG``, then *Read Metadata from
  Files*. CropperHead itself never rewrites image data.
- **darktable** imports a Lightroom sidecar ``IMG_1.xmp`` (any file type) into its crop
  and rotation modules the first time it opens the image in the darkroom (its own
  sidecars, ``IMG_1.JPG.xmp``, hold darktable's history and are not read for crs:Crop*).
- ``cropperhead scan`` reads both names (``IMG_1.xmp`` first), so predicted crops can be
  reviewed in an editor and then learned from.

Caution for Lightroom: *Read Metadata from Files* replaces all of a photo's develop
settings with the sidecar's. A sidecar CropperHead creates holds only the crop, so for a
photo already developed in Lightroom, save its metadata first (*Metadata > Save
Metadata to Files*, Ctrl/Cmd+S): the crop is then merged into a sidecar that carries
the other settings too.

What is written
---------------
Lightroom's stored-frame form: the display-frame crop is converted with
:func:`cropperhead.geometry.crop_display_to_stored`, using the photo's stored size and the
orientation the prediction was made under (the scan's rule: XMP tiff:Orientation, else
EXIF), the exact inverse of what ``cropperhead scan`` does when it reads the crop.
:func:`cropperhead.metadata.xmp.write_sidecar_crop` merges it: only crs:HasCrop and
crs:CropLeft/Top/Right/Bottom/Angle change, every other byte is kept; the file is
replaced atomically and the previous version is kept as ``IMG_1.xmp.bak`` (then
``.bak.1``, ...). A photo without a sidecar gets a new minimal one.

When nothing is written
-----------------------
- The photo already has a crop made by the photographer: crs:HasCrop True and
  AlreadyApplied not True in any of its sidecars (the ones ``cropperhead scan`` reads and
  the target) or in its embedded XMP. It is kept unless ``overwrite=True``. A sidecar
  that CropperHead itself created and that still holds nothing but the crop
  (:func:`made_by_cropperhead`) holds an earlier *prediction*: it is replaced. Once an
  editor has saved that sidecar, its crop counts as the photographer's. A crop that
  prediction merged into an existing sidecar cannot be told apart from the
  photographer's: predicting again keeps it unless ``overwrite=True``.
- Its metadata cannot be read safely (malformed XML, ...): whether it holds a crop is
  unknown, so it is left alone unless ``overwrite=True``; a target sidecar that cannot be
  edited safely is never written.
- The target sidecar says crs:AlreadyApplied True (an exported picture whose pixels
  already are a crop): Camera Raw would ignore a crop written there.
- The target sidecar is a symbolic link that leaves the photo's folder, or points at
  nothing (``sidecar-link``): following it could create or rewrite a file anywhere. A
  link to an existing file in the photo's own folder is followed, and that file edited.
- The target is not a regular file (a FIFO, a device): never opened, never replaced.
- ``dry_run=True``: everything is checked and reported, nothing is written.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cropperhead import files
from cropperhead.geometry import Crop, crop_display_to_stored, crop_stored_to_display, display_size
from cropperhead.imaging import RAW_EXTENSIONS
from cropperhead.metadata import embedded, xmp
from cropperhead.metadata.types import DevelopSettings, SkipError
from cropperhead.metadata.xmp import CRS_NS, read_xmp_properties
from cropperhead.scan import walker

logger = logging.getLogger(__name__)

XMP_TARGETS = ("auto", "stem", "name", "both")
#: The properties of a sidecar CropperHead creates.
_OWN_PROPERTIES = frozenset(
    {"HasCrop", "CropLeft", "CropTop", "CropRight", "CropBottom", "CropAngle", "AlreadyApplied"}
)

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


class SidecarConflict(ValueError):
    """The requested sidecar belongs to (or is shared with) another photo."""


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
        detail: one human-readable line.
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


def _same_stem_photos(photo: Path) -> list[str]:
    """Names of the other photos beside ``photo`` with its stem."""
    names = walker.photo_names(photo.parent).get(photo.stem, [])
    return [n for n in names if n != photo.name and Path(n).stem == photo.stem]


def _stem_is_ours(photo: Path) -> bool:
    """Whether ``IMG_1.xmp`` belongs to this photo alone (see the module docstring)."""
    others = _same_stem_photos(photo)
    if not others:
        return True
    raws = {e.lower() for e in RAW_EXTENSIONS}
    return photo.suffix.lower() in raws and not any(Path(n).suffix.lower() in raws for n in others)


def _existing_spelling(photo: Path, wanted: Path) -> Path:
    """An existing sidecar named like ``wanted`` up to the case of ``.xmp``, else ``wanted``."""
    base = wanted.name[:-4]
    for candidate in xmp.sidecar_candidates(photo):
        if candidate.name[:-4] == base:
            return candidate
    return wanted


def sidecar_targets(photo: Path, target: str = "auto") -> list[Path]:
    """The sidecar(s) a predicted crop for ``photo`` goes to.

    Args:
        photo: the photo.
        target: ``auto``, ``stem``, ``name`` or ``both`` (module docstring).

    Returns:
        One or two sidecar paths (existing or not).

    Raises:
        ValueError: unknown ``target``.
        SidecarConflict: ``stem``/``both`` for a photo whose stem sidecar is another's.
    """
    if target not in XMP_TARGETS:
        raise ValueError(f"xmp_target must be one of {', '.join(XMP_TARGETS)}, got {target!r}")
    photo = Path(photo)
    stem = _existing_spelling(photo, xmp.default_sidecar_path(photo))
    name = _existing_spelling(photo, photo.with_name(photo.name + ".xmp"))
    ours = _stem_is_ours(photo)
    if target == "auto":
        return [stem if ours else name]
    if target == "name":
        return [name]
    if not ours:
        others = ", ".join(_same_stem_photos(photo))
        raise SidecarConflict(
            f"{stem.name} is also the sidecar of {others}; use xmp_target=auto or name"
        )
    return [stem] if target == "stem" else [stem, name]


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


def made_by_cropperhead(packet: bytes) -> bool:
    """Whether a sidecar is one CropperHead created and nobody edited since.

    True for the minimal packet :func:`cropperhead.metadata.xmp.merge_crop_into_xmp` makes
    (toolkit ``CropperHead``) that still holds nothing but the crop: its crop is an
    earlier prediction, not the photographer's. Once Lightroom, Camera Raw or another tool
    saves the file, it carries their toolkit or other properties and counts as theirs.
    """
    if not re.search(rb"""x:xmptk=["']CropperHead["']""", packet[:4096]):
        return False
    try:
        props = read_xmp_properties(packet)
    except SkipError:
        return False
    return all(uri == CRS_NS and name in _OWN_PROPERTIES for uri, name in props)


def _read_sidecar_settings(path: Path) -> DevelopSettings | SkipError:
    try:
        return xmp.read_sidecar(path)
    except SkipError as exc:
        return exc
    except Exception as exc:  # noqa: BLE001 - a reader surprise: treat as unreadable
        return SkipError(BAD_METADATA, f"{type(exc).__name__}: {exc}")


def _read_embedded(photo: Path) -> DevelopSettings | SkipError | None:
    try:
        return embedded.read_embedded_settings(photo)
    except SkipError as exc:
        return exc
    except Exception as exc:  # noqa: BLE001
        return SkipError(BAD_METADATA, f"embedded XMP: {type(exc).__name__}: {exc}")


def _ours(path: Path) -> bool:
    try:
        return made_by_cropperhead(xmp.read_capped(path))
    except (OSError, SkipError):
        return False


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
    try:
        targets = sidecar_targets(photo, target)
    except SidecarConflict as exc:
        return WritebackResult(
            photo, SKIPPED, (), stored, crop, reason=SIDECAR_CONFLICT, detail=str(exc)
        )

    def result(action: str, **kw: object) -> WritebackResult:
        return WritebackResult(photo, action, tuple(targets), stored, crop, **kw)

    sources: list[Path] = []
    for path in [*walker.find_sidecars(photo, {}), *targets]:
        if path.exists() and path not in sources:
            sources.append(path)
    found: list[tuple[Path, DevelopSettings | SkipError]] = [
        (path, _read_sidecar_settings(path)) for path in sources
    ]
    emb = _read_embedded(photo)
    if emb is not None:
        found.append((photo, emb))

    problems = [(p, s) for p, s in found if isinstance(s, SkipError)]
    settings = [(p, s) for p, s in found if isinstance(s, DevelopSettings)]
    live = next(
        (
            (p, s)
            for p, s in settings
            if s.has_crop and not s.already_applied and not (p in targets and _ours(p))
        ),
        None,
    )
    old_crop = None
    if live is not None and live[1].crop is not None:
        try:
            old_crop = crop_stored_to_display(live[1].crop, stored_w, stored_h, orientation)
        except ValueError:
            old_crop = None
    old = {"old_crop": old_crop, "old_source": live[0] if live else None}

    applied = [p for p, s in settings if p in targets and s.already_applied]
    if applied:
        return result(
            SKIPPED,
            reason=ALREADY_APPLIED,
            detail=f"{applied[0].name} says crs:AlreadyApplied=True (an exported picture): "
            "Camera Raw would not apply a crop written there",
            **old,
        )
    if live is not None and not overwrite:
        return result(
            KEPT,
            detail=f"{live[0].name} holds the photographer's crop; overwrite=true replaces it",
            **old,
        )
    if problems and not overwrite:
        path, err = problems[0]
        return result(
            SKIPPED,
            reason=BAD_METADATA,
            detail=f"cannot tell whether {path.name} holds a crop ({err.detail}); "
            "overwrite=true writes anyway",
            **old,
        )

    for path in targets:
        refusal = _link_refusal(photo, path)
        if refusal is not None:
            return result(SKIPPED, reason=SIDECAR_LINK, detail=refusal, **old)
    changes: list[Path] = []
    for path in targets:
        try:
            existing = files.read_regular(path) if os.path.lexists(path) else None
            merged = xmp.merge_crop_into_xmp(existing, stored)
        except (ValueError, OSError) as exc:
            detail = getattr(exc, "strerror", None) or str(exc)
            return result(SKIPPED, reason=BAD_METADATA, detail=f"{path.name}: {detail}", **old)
        if merged != existing:
            changes.append(path)
    if not changes:
        return result(UNCHANGED, **old)
    if dry_run:
        return result(WOULD_WRITE, **old)
    backups: list[Path] = []
    for path in changes:
        try:
            made = xmp.write_sidecar_crop(path, stored, backup=backup)
        except (ValueError, OSError) as exc:
            return result(SKIPPED, reason=WRITE_FAILED, detail=f"{path.name}: {exc}", **old)
        if made is not None:
            backups.append(made)
    return result(WRITTEN, backups=tuple(backups), **old)


__all__ = [
    "XMP_TARGETS",
    "SidecarConflict",
    "WritebackResult",
    "crop_to_xmp",
    "sidecar_targets",
    "write_crop",
]
