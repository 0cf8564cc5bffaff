"""Choose the XMP sidecar(s) a predicted crop goes to (``xmp_target``).

:func:`sidecar_targets` names the file(s); :mod:`cropperhead.predict.writeback` writes
the crop there. :data:`XMP_TARGETS` are the values ``xmp_target`` takes;
:class:`SidecarConflict` is raised for a stem sidecar that is another photo's.

Which file (``xmp_target``)
---------------------------
Image files are never modified: every crop goes into a sidecar beside the photo. What
the photo's files hold is read with :class:`cropperhead.metadata.photo.PhotoMetadata`,
the same model ``cropperhead scan`` reads crops with, so write-back and the scan agree on
where a photo's crop lives and whose it is.

- ``auto`` (default): **the sidecar that holds the photo's settings** is edited in place,
  whatever its name: the place the scan reads the photo's crop from (its first sidecar
  with develop settings, or that cannot be read). So ``IMG_1.dng.xmp`` is edited when the
  DNG's crop lives there, and a photo developed in darktable gets the crop in darktable's
  own history (``IMG_1.CR2.xmp``). There is never a second sidecar beside it that says
  something else. When no sidecar holds settings: ``IMG_1.xmp`` (the photo's name with
  ``.xmp`` for its extension), except when another photo with the same stem lies beside
  it (``IMG_1.CR2`` next to ``IMG_1.JPG``): then the RAW keeps ``IMG_1.xmp`` and the other
  photo gets ``IMG_1.JPG.xmp``, so that two photos never share (and overwrite) one
  sidecar. A darktable sidecar that darktable has not developed yet does not count as
  holding settings: darktable imports ``IMG_1.xmp`` then, so that is where the crop goes.
- ``stem``: always ``IMG_1.xmp``; refused for a photo whose stem sidecar belongs to (or is
  shared with) another photo beside it.
- ``name``: always ``IMG_1.JPG.xmp`` / ``IMG_1.CR2.xmp``.
- ``both``: ``stem`` and ``name``.

An existing sidecar of that name in another capitalisation (``IMG_1.XMP``) is edited in
place instead of adding a second file. Each file is then written in the form of the
editor that owns it (:mod:`cropperhead.predict.writeback`).

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
  Files*. CropperHead itself never rewrites image data. A DNG's embedded crop and a crop
  in its sidecar can therefore differ; the scan reads the sidecar first.
- **darktable** imports a Lightroom sidecar ``IMG_1.xmp`` (any file type) into its crop
  and rotation module while the photo is not developed in darktable yet (the first time
  it opens the image in the darkroom; darktable-cli too). It needs tiff:ImageWidth,
  tiff:ImageLength and tiff:Orientation for that, which write-back adds
  (:mod:`cropperhead.predict.writeback`). Once darktable has developed the photo
  (``IMG_1.CR2.xmp`` with a history), it ignores ``IMG_1.xmp``: the crop then goes into
  that history (``auto``). darktable reads a changed sidecar of a photo already in its
  library only when told to (its "look for updated XMP files on startup" preference, or
  *history stack > load sidecar file*).
- ``cropperhead scan`` reads both names (``IMG_1.xmp`` first), darktable histories
  included, so predicted crops can be reviewed in an editor and then learned from.

Caution for Lightroom: *Read Metadata from Files* replaces all of a photo's develop
settings with the sidecar's. A sidecar CropperHead creates holds only the crop, so for a
photo already developed in Lightroom, save its metadata first (*Metadata > Save
Metadata to Files*, Ctrl/Cmd+S): the crop is then merged into a sidecar that carries
the other settings too.
"""

from __future__ import annotations

from pathlib import Path

from cropperhead.imaging import RAW_EXTENSIONS
from cropperhead.metadata import xmp
from cropperhead.metadata.photo import EDITOR_DARKTABLE, SIDECAR, PhotoMetadata
from cropperhead.scan import walker

__all__ = ["XMP_TARGETS", "SidecarConflict", "sidecar_targets"]

XMP_TARGETS = ("auto", "stem", "name", "both")


class SidecarConflict(ValueError):
    """The requested sidecar belongs to (or is shared with) another photo."""


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


def _settings_sidecar(metadata: PhotoMetadata) -> Path | None:
    """The sidecar that holds the photo's settings (``auto``), or None."""
    place = metadata.deciding
    if place is None or place.kind != SIDECAR:
        return None
    if place.editor == EDITOR_DARKTABLE and not place.darktable_developed:
        return None  # darktable imports the Lightroom sidecar instead
    return place.path


def sidecar_targets(
    photo: Path, target: str = "auto", metadata: PhotoMetadata | None = None
) -> list[Path]:
    """The sidecar(s) a predicted crop for ``photo`` goes to.

    Args:
        photo: the photo.
        target: ``auto``, ``stem``, ``name`` or ``both`` (module docstring).
        metadata: the photo's metadata, when the caller has read it already (``auto``
            reads it otherwise).

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
        holder = _settings_sidecar(metadata if metadata is not None else PhotoMetadata(photo))
        if holder is not None:
            return [holder]
        return [stem if ours else name]
    if target == "name":
        return [name]
    if not ours:
        others = ", ".join(_same_stem_photos(photo))
        raise SidecarConflict(
            f"{stem.name} is also the sidecar of {others}; use xmp_target=auto or name"
        )
    return [stem] if target == "stem" else [stem, name]
