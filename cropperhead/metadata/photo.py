"""One photo's metadata: where its crop lives, which editor owns it, and what it says.

``cropperhead scan`` (which crop to train on) and write-back (``predict.py
write_xmp=true``: is there a crop of the photographer's to keep, which file to edit) both
ask this model, so that they cannot disagree. It only reads; writing is
:mod:`cropperhead.predict.writeback`'s.

Places
------
A photo's develop settings can live in these *places*, listed in the scan's precedence
(docs/interfaces.md; catalogs come first but are handled by the scan itself):

1. its XMP sidecars, in :func:`cropperhead.scan.walker.find_sidecars` order:
   ``IMG_1.xmp`` then ``IMG_1.CR2.xmp``, each in any capitalisation of ``.xmp`` (the
   stem sidecar is left out for a JPEG beside a RAW of the same stem: it is the RAW's);
2. the XMP embedded in the photo.

Each :class:`Place` says which **editor** owns it: a sidecar with a ``darktable:history``
(:func:`cropperhead.metadata.darktable.is_darktable_xmp`) is darktable's, read by the
darktable reader; every other sidecar and the embedded XMP are in Camera Raw's form
(Lightroom Classic, Camera Raw, and darktable's Lightroom import read them). A place holds
the settings read from it, or the ``SkipError`` that says why they could not be read.

Decisions
---------
- :attr:`PhotoMetadata.deciding`: the scan's rule: the first place with develop settings,
  or that cannot be read safely (sidecars before the embedded XMP). The scan trains on
  its crop; write-back edits that sidecar (``xmp_target=auto``).
- :attr:`Place.live_crop`: the place switches a crop on that is not already in the pixels
  (HasCrop True and AlreadyApplied not True; an active crop module in darktable).
- :attr:`Place.by_cropperhead`: the place is a file CropperHead wrote and nobody saved
  since, so its crop is an earlier *prediction*: a Camera Raw sidecar CropperHead created
  that still holds nothing but the crop and the photo's frame
  (:func:`made_by_cropperhead`), or a darktable sidecar whose digest marker still matches
  (:func:`cropperhead.metadata.darktable.written_by_cropperhead`). Once an editor saved
  the file, its crop is the photographer's.
- :meth:`PhotoMetadata.photographers_crops`: every place with a live crop that is not a
  prediction, the deciding place first. Write-back keeps the crop when there is any (it
  is more careful than the scan, which trains on the deciding place alone).
- :attr:`Place.darktable_developed`: a darktable sidecar whose history darktable develops
  the photo from; darktable then ignores Lightroom sidecars
  (:func:`cropperhead.metadata.darktable.is_developed`).
- :attr:`PhotoMetadata.xmp_orientation`: the scan's display orientation from XMP: the
  tiff:Orientation of the first Camera Raw sidecar that records one, else the embedded
  XMP's.

Reading costs: sidecars are read once. The scan hands over the bytes it already read
(:class:`SidecarRead`); without them the model reads the photo's sidecars itself. The
embedded XMP is read only when asked for. darktable sidecars need the photo's stored size
and EXIF orientation for turned crops (:class:`PhotoGeometry`): give them, or a function
that returns them (the scan decodes the photo only then).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from cropperhead.metadata import darktable, embedded, xmp
from cropperhead.metadata.types import (
    BAD_METADATA,
    ORIGIN_SIDECAR,
    UNREADABLE,
    DevelopSettings,
    SkipError,
)

__all__ = [
    "EDITOR_ADOBE",
    "EDITOR_DARKTABLE",
    "EMBEDDED",
    "MAX_SIDECAR_BYTES",
    "SIDECAR",
    "PhotoGeometry",
    "PhotoMetadata",
    "Place",
    "SidecarRead",
    "made_by_cropperhead",
    "read_sidecar_bytes",
]

#: Editors that own a place.
EDITOR_ADOBE = "lightroom"  # Lightroom Classic / Camera Raw form (crs:*)
EDITOR_DARKTABLE = "darktable"
#: Kinds of place.
SIDECAR = "sidecar"
EMBEDDED = "embedded"
#: Sidecars larger than this are not read (no real sidecar comes near it): the XMP
#: reader's own packet limit, so a sidecar it would refuse is never read whole.
MAX_SIDECAR_BYTES = xmp.MAX_PACKET_BYTES

#: What a sidecar CropperHead creates holds (see :func:`made_by_cropperhead`).
_OWN_PROPERTIES = frozenset(
    {(xmp.CRS_NS, name) for name in (
        "HasCrop", "CropLeft", "CropTop", "CropRight", "CropBottom", "CropAngle",
        "AlreadyApplied",
    )}
    | {(xmp.TIFF_NS, name) for name in ("ImageWidth", "ImageLength", "Orientation")}
)  # fmt: skip


def made_by_cropperhead(packet: bytes) -> bool:
    """Whether a Camera Raw sidecar is one CropperHead created and nobody edited since.

    True for the minimal packet :func:`cropperhead.metadata.xmp.merge_crop_into_xmp` makes
    (toolkit ``CropperHead``) that still holds nothing but the crop (and the photo's
    tiff frame): its crop is an earlier prediction, not the photographer's. Once
    Lightroom, Camera Raw or another tool saves the file, it carries their toolkit or
    other properties and counts as theirs.
    """
    if not re.search(rb"""x:xmptk=["']CropperHead["']""", packet[:4096]):
        return False
    try:
        props = xmp.read_xmp_properties(packet)
    except SkipError:
        return False
    return all(key in _OWN_PROPERTIES for key in props)


@dataclass(frozen=True)
class SidecarRead:
    """A sidecar's bytes as read, or why they could not be (``(reason, detail)``)."""

    path: Path
    packet: bytes | None
    error: tuple[str, str] | None = None


def read_sidecar_bytes(path: Path, limit: int = MAX_SIDECAR_BYTES) -> SidecarRead:
    """Read one sidecar (a regular file of at most ``limit`` bytes); never raises."""
    try:
        return SidecarRead(path, xmp.read_capped(path, limit))
    except SkipError:
        return SidecarRead(path, None, (BAD_METADATA, f"larger than {limit} bytes"))
    except OSError as exc:
        return SidecarRead(path, None, (UNREADABLE, f"cannot read sidecar: {exc.strerror or exc}"))


@dataclass(frozen=True)
class PhotoGeometry:
    """What darktable's turned crops need: the stored size and the EXIF orientation.

    Attributes:
        width_px: stored-frame width (for a RAW file, the developed sensor area).
        height_px: stored-frame height.
        exif_orientation: the photo's EXIF orientation 1..8 (darktable's "automatic"),
            or None when unknown.
    """

    width_px: float
    height_px: float
    exif_orientation: int | None = None


GeometrySource = PhotoGeometry | Callable[[], PhotoGeometry | SkipError] | None


@dataclass(eq=False)
class Place:
    """One place that may hold the photo's develop settings (module docstring).

    Attributes:
        path: the sidecar, or the photo itself for the embedded XMP.
        kind: :data:`SIDECAR` or :data:`EMBEDDED`.
        editor: :data:`EDITOR_ADOBE` or :data:`EDITOR_DARKTABLE`.
        settings: what was read, or None when ``error`` says why not.
        error: why the settings could not be read, or None.
        packet: a sidecar's bytes (None for the embedded XMP or an unreadable file).
    """

    path: Path
    kind: str
    editor: str
    settings: DevelopSettings | None = None
    error: SkipError | None = None
    packet: bytes | None = field(default=None, repr=False)

    @property
    def result(self) -> DevelopSettings | SkipError:
        """The settings, or the reason they could not be read."""
        if self.settings is not None:
            return self.settings
        return self.error or SkipError(UNREADABLE, f"{self.path.name}: cannot read")

    @property
    def has_settings(self) -> bool:
        """Develop settings were read and there are some."""
        return self.settings is not None and self.settings.has_settings

    @property
    def live_crop(self) -> bool:
        """A crop is switched on and not already in the pixels."""
        s = self.settings
        return s is not None and s.has_crop and not s.already_applied

    @cached_property
    def by_cropperhead(self) -> bool:
        """The file is one CropperHead wrote and nobody saved since (module docstring)."""
        if self.kind != SIDECAR or self.packet is None:
            return False
        if self.editor == EDITOR_DARKTABLE:
            return darktable.written_by_cropperhead(self.packet)
        return made_by_cropperhead(self.packet)

    @property
    def photographers_crop(self) -> bool:
        """A live crop that is not an earlier prediction."""
        return self.live_crop and not self.by_cropperhead

    @cached_property
    def darktable_developed(self) -> bool:
        """Whether darktable develops the photo from this sidecar (ignoring Lightroom's)."""
        return (
            self.editor == EDITOR_DARKTABLE
            and self.packet is not None
            and darktable.is_developed(self.packet)
        )

    def describe(self) -> str:
        """``IMG_1.CR2.xmp (darktable)``: the file and its editor."""
        where = "embedded XMP" if self.kind == EMBEDDED else self.path.name
        return f"{where} ({'darktable' if self.editor == EDITOR_DARKTABLE else 'Camera Raw'})"


class PhotoMetadata:
    """Every place of one photo, read lazily and once (see the module docstring).

    Args:
        photo: the photo (absolute path).
        sidecars: its sidecars as already read, in reading order; None: find and read them
            (:func:`cropperhead.scan.walker.find_sidecars`).
        fields: ``--field`` names to read along (``PREFIX:Name``).
        geometry: the photo's stored size and EXIF orientation for darktable sidecars, or
            a function returning them (or the ``SkipError`` that says why not), called at
            most once and only when a darktable sidecar is read.
    """

    def __init__(
        self,
        photo: Path,
        sidecars: Sequence[SidecarRead] | None = None,
        *,
        fields: Sequence[str] = (),
        geometry: GeometrySource = None,
    ) -> None:
        self.photo = Path(photo)
        self.fields = tuple(fields)
        self._given = tuple(sidecars) if sidecars is not None else None
        self._geometry_source = geometry

    # ------------------------------------------------------------------ reading

    @cached_property
    def _reads(self) -> tuple[SidecarRead, ...]:
        if self._given is not None:
            return self._given
        from cropperhead.scan import walker  # the scan's own rule for which files

        return tuple(read_sidecar_bytes(p) for p in walker.find_sidecars(self.photo, {}))

    @cached_property
    def geometry(self) -> PhotoGeometry | SkipError | None:
        """The photo's geometry for darktable sidecars (see the class docstring)."""
        source = self._geometry_source
        if callable(source):
            return source()
        return source

    def _read_place(self, read: SidecarRead) -> Place:
        name = read.path.name
        if read.packet is None:
            reason, detail = read.error or (UNREADABLE, "cannot read")
            return Place(
                read.path, SIDECAR, EDITOR_ADOBE, error=SkipError(reason, f"{name}: {detail}")
            )
        editor = EDITOR_DARKTABLE if darktable.is_darktable_xmp(read.packet) else EDITOR_ADOBE
        place = Place(read.path, SIDECAR, editor, packet=read.packet)
        try:
            if editor == EDITOR_ADOBE:
                place.settings = xmp.read_xmp_settings(
                    read.packet, ORIGIN_SIDECAR, self.fields, source=read.path
                )
                return place
            # darktable's turned crops depend on the photo's size and EXIF orientation.
            geometry = self.geometry
            if isinstance(geometry, SkipError):
                raise geometry
            size = (geometry.width_px, geometry.height_px) if geometry is not None else None
            orientation = geometry.exif_orientation if geometry is not None else None
            place.settings = darktable.read_darktable_settings(
                read.packet,
                self.fields,
                source=read.path,
                image_size=size,
                orientation=orientation if _valid_orientation(orientation) else None,
            )
        except SkipError as exc:
            place.error = exc
        except Exception as exc:  # noqa: BLE001 - a reader bug or a file nobody expected
            place.error = SkipError(BAD_METADATA, f"{name}: {type(exc).__name__}: {exc}")
        return place

    @cached_property
    def sidecars(self) -> tuple[Place, ...]:
        """The sidecar places, in reading order (each file read once)."""
        return tuple(self._read_place(read) for read in self._reads)

    @cached_property
    def embedded(self) -> Place | None:
        """The embedded XMP's place, or None when the photo has no embedded XMP."""
        try:
            found = embedded.read_embedded_settings(self.photo, self.fields)
        except SkipError as exc:
            return Place(self.photo, EMBEDDED, EDITOR_ADOBE, error=exc)
        except Exception as exc:  # noqa: BLE001
            error = SkipError(BAD_METADATA, f"embedded XMP: {type(exc).__name__}: {exc}")
            return Place(self.photo, EMBEDDED, EDITOR_ADOBE, error=error)
        if found is None:
            return None
        return Place(self.photo, EMBEDDED, EDITOR_ADOBE, settings=found)

    # ------------------------------------------------------------------ deciding

    @cached_property
    def deciding(self) -> Place | None:
        """The first place with develop settings or that cannot be read; None: no metadata.

        The embedded XMP is read only when no sidecar decides.
        """
        for place in self.sidecars:
            if place.error is not None or place.has_settings:
                return place
        emb = self.embedded
        if emb is not None and (emb.error is not None or emb.has_settings):
            return emb
        return None

    @cached_property
    def xmp_orientation(self) -> int | None:
        """tiff:Orientation of the first Camera Raw sidecar that records one, else embedded."""
        for place in self.sidecars:
            s = place.settings
            if s is not None and s.origin == ORIGIN_SIDECAR and _valid_orientation(s.orientation):
                return s.orientation
        emb = self.embedded
        if emb is not None and emb.settings is not None:
            if _valid_orientation(emb.settings.orientation):
                return emb.settings.orientation
        return None

    def places(self) -> list[Place]:
        """Every place, in precedence order (reads the embedded XMP)."""
        emb = self.embedded
        return [*self.sidecars, *([emb] if emb is not None else [])]

    def find(self, path: Path) -> Place | None:
        """The sidecar place read from ``path`` (same file name in the photo's folder)."""
        path = Path(path)
        for place in self.sidecars:
            if place.path == path or (
                place.path.parent == path.parent and place.path.name == path.name
            ):
                return place
        return None

    def photographers_crops(self) -> list[Place]:
        """Places with a live crop that is not a prediction, the deciding place first."""
        found = [p for p in self.places() if p.photographers_crop]
        deciding = self.deciding
        if deciding in found:
            found.remove(deciding)
            found.insert(0, deciding)
        return found

    def unreadable(self) -> list[Place]:
        """Places whose settings could not be read safely, in precedence order."""
        return [p for p in self.places() if p.error is not None]

    def darktable_history(self) -> Place | None:
        """The first sidecar darktable develops the photo from, or None."""
        return next((p for p in self.sidecars if p.darktable_developed), None)


def _valid_orientation(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 8
