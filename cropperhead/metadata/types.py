"""What a metadata reader returns, and how it says "skip this file".

Every reader (XMP sidecar, embedded XMP, Lightroom catalog, darktable sidecar) turns
its source into :class:`DevelopSettings`. Readers never touch pixels and never decide
what becomes a training sample: ``cropperhead.scan`` applies the precedence rules of
docs/interfaces.md (catalog, then sidecar, then embedded XMP) and the orientation rule
(catalog, then XMP tiff:Orientation, then EXIF).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cropperhead.geometry import Crop

#: Origins, as written to the manifest's ``origin``.
ORIGIN_SIDECAR = "xmp-sidecar"
ORIGIN_EMBEDDED = "xmp-embedded"
ORIGIN_LRCAT = "lrcat"
ORIGIN_DARKTABLE = "darktable"

#: Reason codes of skipped.jsonl (docs/interfaces.md; more may be added).
NO_METADATA = "no-metadata"
UNCROPPED = "uncropped"
ALREADY_APPLIED = "crop-already-applied"
UNREADABLE = "unreadable"
BAD_METADATA = "bad-metadata"
UNSUPPORTED = "unsupported"
INVALID_CROP = "invalid-crop"
MISSING_FILE = "missing-file"
REASONS = (
    NO_METADATA,
    UNCROPPED,
    ALREADY_APPLIED,
    UNREADABLE,
    BAD_METADATA,
    UNSUPPORTED,
    INVALID_CROP,
    MISSING_FILE,
)


class SkipError(Exception):
    """A file that is looked at and not used, with a skipped.jsonl reason code.

    Args:
        reason: one of :data:`REASONS`.
        detail: one human-readable line (what was wrong, with the bad value).
    """

    def __init__(self, reason: str, detail: str) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown skip reason {reason!r}")
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class DevelopSettings:
    """What one metadata source says about one photo (or one virtual copy).

    Attributes:
        origin: one of the ``ORIGIN_*`` constants.
        has_settings: the source carries develop settings at all (crs:HasSettings, a
            catalog develop row, a darktable history). False means "no-metadata".
        has_crop: the crop is switched on (crs:HasCrop True, a live catalog crop, an
            enabled darktable crop/clipping/ashift entry).
        crop: the crop when ``has_crop``; fractions of the frame named by
            ``crop_frame``, Lightroom's angle convention (positive turns the crop box
            clockwise on the photo).
        crop_frame: ``"stored"`` (Lightroom: the un-oriented file) or ``"display"``
            (after the orientation is applied; darktable crops after its flip module).
        already_applied: crs:AlreadyApplied True: the pixels already are the crop.
        orientation: EXIF-style orientation 1..8 this source records (XMP
            tiff:Orientation, the catalog's orientation code, darktable's flip), or None.
        fields: the ``--field crs:NAME`` values asked for and present, as strings.
        source: the file the settings were read from (sidecar, photo, catalog).
        photo: the photo the settings belong to, when the source says (catalog rows).
        catalog_relative_photo: where a catalog row's photo lies when the catalog was
            moved together with its photos: the catalog's folder joined with
            ``AgLibraryRootFolder.relativePathFromCatalog``, the folder and the file
            name; None when the catalog records no relative path.
        copy_name: a catalog virtual copy's name; None for masters and files.
        sample_key: distinguishes several samples of one photo (catalog image id).
    """

    origin: str
    has_settings: bool
    has_crop: bool = False
    crop: Crop | None = None
    crop_frame: Literal["stored", "display"] = "stored"
    already_applied: bool = False
    orientation: int | None = None
    fields: dict[str, str] = field(default_factory=dict)
    source: Path | None = None
    photo: Path | None = None
    catalog_relative_photo: Path | None = None
    copy_name: str | None = None
    sample_key: str | None = None
