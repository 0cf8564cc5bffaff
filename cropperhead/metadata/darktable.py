"""darktable sidecars (``NAME.EXT.xmp``): the active history and the crop it makes.

Public API
----------
:func:`is_darktable_xmp` (``packet: bytes -> bool``)
    Cheap byte test, no XML parsing: the packet binds a prefix to darktable's namespace
    ``http://darktable.sf.net/`` and has a ``PREFIX:history`` element. The scan uses it
    to route ``NAME.EXT.xmp`` sidecars here instead of to the Camera Raw reader.
:func:`read_darktable_settings` (``packet, fields=(), source=None, *, image_size=None,
orientation=None, perspective="ignore"`` -> :class:`~cropperhead.metadata.types.DevelopSettings`)
    The crop darktable's active history makes, as the project's crop record, with
    ``origin=ORIGIN_DARKTABLE``. ``image_size`` is the photo's ``(width, height)`` in the
    *stored* frame (pixels as they lie in the file, before any orientation; for a raw
    file the developed sensor area); ``orientation`` is the photo's EXIF orientation,
    used where darktable's orientation module is on "automatic". Both are optional and
    needed only where the answer depends on them (see *Geometry*); when one is needed
    and missing the reader raises ``SkipError(UNSUPPORTED, ...)`` saying which.
:func:`read_darktable_history` (``packet -> DarktableHistory``)
    The parsed history: every entry with its decoded ``params`` blob, ``history_end``,
    ``xmp_version``, the pipe order and the ``darktable:*`` attributes. Entries decode
    their module parameters with :meth:`HistoryEntry.decode` (:class:`CropParams`,
    :class:`ClippingParams`, :class:`AshiftParams`, :class:`FlipParams`).
:func:`decode_params` (``text -> bytes``)
    darktable's blob encoding: lowercase hex, or ``gz`` + 2 digits (darktable's
    compression factor, unused here) + base64 of a zlib stream.
:func:`is_developed` (``packet -> bool``)
    Whether darktable develops the photo from this sidecar's own history and so ignores
    a Lightroom sidecar (see *Who reads which file*).
:func:`merge_crop_into_darktable` (``packet, crop, image_size, orientation -> bytes``)
    The inverse of the reader: the sidecar with a crop step (and a rotation step) appended
    to its history; see *Writing*. :func:`crop_to_darktable_params` is its geometry,
    :func:`encode_params` its blob encoding, :func:`written_by_cropperhead` recognises a
    sidecar it wrote that nobody saved since.

Errors: malformed XML, a DTD or entity declaration, a history entry without operation,
params or modversion, a blob that is neither hex nor ``gz``/base64/zlib, or a blob whose
length does not match its module version's struct all raise
``SkipError(BAD_METADATA, one line)``. Wrong *arguments* (an orientation outside 1..8,
a non-positive size, an unknown ``perspective``) raise ``ValueError``.

The active history (checked against darktable's ``src/common/exif.cc``)
-----------------------------------------------------------------------
``darktable:history`` is an ``rdf:Seq`` of ``rdf:li`` entries, written as attributes
(``<rdf:li darktable:num="0" darktable:operation="flip" .../>``) or as child elements
(``<rdf:li rdf:parseType="Resource"><darktable:num>0</darktable:num>...``, or an
``rdf:Description`` inside the ``rdf:li``); both forms are read, in xmp_version 4 and 5
(and any later version that keeps the layout). ``read_history_v2`` in exif.cc collects
``num``, ``operation``, ``enabled`` (``== 1``), ``modversion``, ``params`` and
``multi_priority`` per entry and rejects the whole history when operation, params or
modversion is missing; darktable then replays the entries with ``num < history_end``
(``history_end`` absent: all) in ``num`` order onto the module instance named by
``(operation, multi_priority)``. So the **last** such entry of an instance wins, its
``enabled`` flag included: an instance whose last entry is disabled is off even if an
earlier entry enabled it. The xmp_version 1 layout (parallel ``history_operation`` /
``history_params`` sequences) is refused as UNSUPPORTED.

Module parameters (``DT_MODULE_INTROSPECTION`` versions; little-endian float32/int32)
--------------------------------------------------------------------------------------
- ``crop`` v1 (24 bytes): cx, cy, cw, ch, ratio_n, ratio_d; cx/cy are the left/top and
  cw/ch the **right/bottom** edges, fractions of the module's input.
- ``clipping`` ("crop and rotate") v5 (84 bytes): angle, cx, cy, cw, ch, k_h, k_v,
  kxa..kyd, k_type, k_sym, k_apply, crop_auto, ratio_n, ratio_d; a negative cw/ch
  mirrors the picture. v2/v3 (28 bytes) and v4 (76 bytes) are converted as
  darktable's ``legacy_params`` does.
- ``ashift`` ("rotate and perspective") v5 (892 bytes): rotation, lensshift_v,
  lensshift_h, shear, f_length, crop_factor, orthocorr, aspect, mode, cropmode, cl, cr,
  ct, cb, then drawn lines (ignored); v1 (16), v2 (36), v3 (56) and v4 (60 bytes) are
  converted like ``legacy_params`` (no crop before v3, no shear before v4).
- ``flip`` ("orientation") v2 (4 bytes): darktable's orientation bits, ``-1`` =
  automatic (the photo's EXIF orientation), absolute otherwise (``commit_params``). Bits,
  as ``flip.c``'s distort functions apply them: 2 mirrors x, 1 mirrors y, then 4 swaps x
  and y. So darktable 5 is EXIF 6 (a quarter turn clockwise; flip.c's "rotate 90 degrees
  CW" button makes 5 from 0) and darktable 6 is EXIF 8; :data:`DT_FLIP_TO_EXIF` has all
  eight. Old headers named 6 ``ROTATE_CW_90_DEG``; darktable 3.0 fixed the orientation
  module and orientations set in 2.x may now turn the other way (darktable issue #3545),
  so a 2.x sidecar's user orientation may be read turned by 180 degrees. flip v1 held a
  flip *relative* to the EXIF one and is not supported.

Any other version of these four modules is skipped with a logged warning; when the
skipped entry was the only crop-bearing module, ``SkipError(UNSUPPORTED, ...)``.

Geometry
--------
Pipe order: darktable's built-in orders (``iop_order.c``: legacy, v3.0, v3.0 JPEG,
v5.0) all run ``ashift`` before ``flip`` and ``flip`` before ``clipping`` before
``crop``; a custom order is read from ``darktable:iop_order_list``. So ``ashift`` works
in the **stored** frame and ``clipping``/``crop`` in the **display** frame (after
darktable's orientation). Each module maps its output back to its input exactly as its
``distort_backtransform`` does, in continuous pixel coordinates:

- ``crop``: a box ``[cx, cw] x [cy, ch]`` of its input (darktable clamps cx, cy to
  [0, 0.9] and cw, ch to [0.1, 1]; so does this reader).
- ``clipping`` rotates its input about the centre by ``angle`` and cuts an axis-aligned
  box out of the rotated image: with ``crop_auto`` (and no keystone) the reference box is
  the largest copy of the input's aspect (or its transpose, whichever is bigger, ties to
  the transpose as darktable does) that fits inside the rotated image; otherwise it is
  the rotated image's bounding box (enlarged, black corners included). cx..ch are
  fractions of that box. An output point ``q`` (centred) comes from input point
  ``centre + M q`` with ``M = [[cos a, sin a], [-sin a, cos a]]``: the output's top edge
  runs along ``(cos a, -sin a)`` on the photo, so **Lightroom's angle is -angle**.
  darktable's own Lightroom importer (``src/develop/lightroom.c``) writes
  ``angle = -CropAngle``, turns the Lightroom corners by CropAngle about the centre and
  divides by the turned photo's bounding box (``crop_auto`` 0): that model round-trips
  through this reader (tested), which confirms sign and box.
- ``ashift`` (``homography()``: swap, rotate by ``phi = +rotation``, swap back) maps
  input to output by ``[[cos, sin], [-sin, cos]]`` about the centre; its output is the
  transformed image's bounding box, cut to ``[cl, cr] x [ct, cb]``. The output's top edge
  runs along ``(cos r, sin r)``: **Lightroom's angle is +rotation**. (Check on the
  fixture: rotation 5.3 with darktable's "largest area" crop touches all four edges of a
  3:2 photo exactly.)
- ``flip`` maps by the orientation table above.

The four corners of darktable's final output are mapped back through every active
module to the stored frame and then, when ``clipping``/``crop`` is active, forward through
darktable's orientation to the display frame; :func:`~cropperhead.geometry.corners_to_crop`
turns them into ``(left, top, right, bottom, angle)`` (``crop_frame="display"``). With
``ashift`` alone the record stays in the stored frame (``crop_frame="stored"``). Rotations
and crops compose exactly (the composition of similarities is a similarity), so a
composed ashift + clipping + crop is exact too, up to darktable's half-pixel
bookkeeping (~1e-4 of the frame). Angles beyond +-45 degrees (a clipping turned by 90)
are UNSUPPORTED. A mirror (negative clipping cw/ch) keeps the same region; the corners
are renamed as in the unmirrored picture and the mirror is logged and dropped.

What needs the photo: a turned crop (any non-zero ashift rotation or clipping angle)
needs ``image_size``; a display-frame result computed through a turn, or any result
that passes through darktable's orientation from ashift to clipping/crop, needs the
orientation (darktable's own when the history sets it, else ``orientation=``).
Axis-aligned crops need neither: their fractions do not depend on the aspect.

Perspective: ashift lens shift / shear / aspect and clipping keystone cannot be
expressed by a crop record. ``perspective="ignore"`` (default) keeps the rotation and the
crop box and drops the perspective (the box is taken relative to the unwarped, only
rotated image), logging it at INFO; ``perspective="skip"`` raises
``SkipError(UNSUPPORTED, ...)`` instead.

Modules that change the frame before a crop module in ways a crop record cannot follow
(``enlargecanvas``, ``rotatepixels``, ``scalepixels``) make the crop UNSUPPORTED; the
small scale change of lens correction is ignored.

Who reads which file (darktable 4.2, checked with darktable-cli)
----------------------------------------------------------------
darktable imports a Lightroom sidecar (``IMG_1.xmp``) only while the photo is not
developed yet. ``exif.cc`` sets the image's "auto presets applied" flag only when its own
sidecar says ``darktable:auto_presets_applied="1"`` **and** has a history with
``history_end`` >= 1; the Lightroom import runs only while that flag is clear. Seen with
darktable-cli: a sidecar with both ignores ``IMG_1.xmp``; with ``auto_presets_applied="0"``,
``history_end="0"`` or an empty history the Lightroom crop is imported (on top of the
history). :func:`is_developed` is that rule.

Writing
-------
:func:`merge_crop_into_darktable` writes a crop into a developed history the way darktable
4.2's own modules hold one: a rotation step in ``ashift`` ("rotate and perspective") v5
with ``rotation`` = the stored-frame angle, no perspective and no automatic crop
(``cropmode`` 0, box 0..1), only when the crop is turned; then a ``crop`` v1 step with the
box as fractions of darktable's display frame (after its orientation: the history's flip,
or the photo's EXIF orientation when that is automatic), ratio 0:0 (freehand). It is the
exact inverse of the reader (round trip tested for all eight orientations, turned crops
included) and darktable-cli renders it as the project's geometry says
(tests/predict/test_darktable_cli.py).

Every other byte stays. The steps are appended after the last ``rdf:li`` of the history,
shaped like that entry (its attributes, order, quoting and indentation; ``multi_name``
empty, ``multi_priority`` 0, the ``blendop`` values of the history's ``flip`` step, which
never blends, else darktable 4.2's default), numbered from ``max(num) + 1``, and
``history_end`` moves past them. Other instances that would still crop or turn the
picture are switched off by appending a copy of their last step with ``enabled`` 0: every
``clipping`` instance, a rotation-only ``ashift`` when the new crop is not turned, and
instances other than the first of ``crop`` and ``ashift``. Nothing is deleted: the old
steps stay in the history, one click away in darktable.

Refused (``ValueError``, nothing changed): a sidecar that is not developed (see above:
darktable would import the Lightroom sidecar instead), a history with undone steps
(``history_end`` below the number of entries: appending would redo them) or with
non-consecutive numbers, element-form entries, entry fields this writer does not know,
an ``xmp_version`` other than 4 or 5, a custom module order that leaves out ``crop`` or
``ashift``, an active ``ashift`` with a perspective correction or ``clipping`` with a
keystone (it cannot be kept under a new crop, nor dropped without losing it), a box
darktable's crop module would clamp (edges beyond 0.9 / 0.1), and any result that the
reader does not read back as the crop written (1e-4 of the frame, 1e-3 degrees).

Marker: the sidecar gets ``cropperhead:SidecarDigest`` (namespace
:data:`CROPPERHEAD_NS`) on its darktable ``rdf:Description``: the SHA-256 of the file with
that value left empty. :func:`written_by_cropperhead` is True only while the file is
byte for byte what CropperHead wrote: the history's crop is then an earlier prediction.
Any save by darktable re-serialises the file, and from then on its crop is the
photographer's, as for a Lightroom sidecar that an editor saved.

darktable's ``history_current_hash`` is left as it was: darktable recomputes it when the
photo is next edited; until then its lighttable may show the photo as not altered.

Flags
-----
``has_settings``: the sidecar has a darktable history with at least one entry.
``has_crop``: an active crop-bearing module (crop, clipping, ashift) gives a crop that
is not the full frame with angle 0 (within 1e-6). ``orientation``: darktable's own
orientation when an active ``flip`` entry sets one (EXIF code), 1 when the flip module
is switched off in the history, else None (automatic). ``fields``: ``darktable:NAME``
values of the ``rdf:Description`` (attributes or simple elements) when asked; other
prefixes (e.g. ``crs:``) are ignored silently.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import math
import re
import struct
import xml.parsers.expat
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from xml.etree.ElementTree import Element

import numpy as np

from cropperhead.geometry import (
    MIRRORED,
    Crop,
    check_orientation,
    corners_to_crop,
    crop_stored_to_display,
    crop_to_corners,
    display_size,
    points_display_to_stored,
    points_stored_to_display,
)
from cropperhead.metadata.types import (
    BAD_METADATA,
    INVALID_CROP,
    ORIGIN_DARKTABLE,
    UNSUPPORTED,
    DevelopSettings,
    SkipError,
)
from cropperhead.metadata.xmp import (  # the byte-level editing helpers of xmp.py
    _insertion,
    _tag_attrs,
    _tag_end,
    parse_packet,
)

logger = logging.getLogger(__name__)

DT_NS = "http://darktable.sf.net/"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_DT = "{" + DT_NS + "}"
_RDF = "{" + RDF_NS + "}"

#: A decompressed ``gz`` params blob may not exceed this (the largest struct is ~1 KiB).
MAX_PARAMS_BYTES = 1024 * 1024

#: darktable orientation bits (flip v2 params) -> EXIF orientation.
DT_FLIP_TO_EXIF = {0: 1, 1: 4, 2: 2, 3: 3, 4: 5, 5: 6, 6: 8, 7: 7}
#: Modules whose active state makes a crop.
CROP_MODULES = ("ashift", "clipping", "crop")
#: Modules that change the frame in ways a crop record cannot follow.
FRAME_CHANGERS = ("enlargecanvas", "rotatepixels", "scalepixels")
#: Relative pipe order of the modules that matter here (iop_order.c).
_LEGACY_ORDER = (
    "ashift", "rotatepixels", "scalepixels", "flip", "enlargecanvas", "clipping", "crop",
)  # fmt: skip
_V30_ORDER = ("rotatepixels", "scalepixels", "ashift", "flip", "enlargecanvas", "clipping", "crop")
_RELEVANT = frozenset(_V30_ORDER)

_GZ_RE = re.compile(r"gz\d\d")
_NS_DECL_RE = re.compile(rb"xmlns:([A-Za-z_][\w.\-]*)\s*=\s*[\"']http://darktable\.sf\.net/[\"']")

Perspective = Literal["ignore", "skip"]
_Back = Callable[[np.ndarray], np.ndarray]


# --------------------------------------------------------------------------- params


@dataclass(frozen=True)
class CropParams:
    """``crop`` params: left/top/right/bottom edges as fractions of the module's input."""

    cx: float
    cy: float
    cw: float
    ch: float
    ratio_n: int
    ratio_d: int


@dataclass(frozen=True)
class ClippingParams:
    """``clipping`` ("crop and rotate") params, as version 5 has them."""

    angle: float
    cx: float
    cy: float
    cw: float
    ch: float
    k_h: float
    k_v: float
    kxa: float
    kya: float
    kxb: float
    kyb: float
    kxc: float
    kyc: float
    kxd: float
    kyd: float
    k_type: int
    k_sym: int
    k_apply: int
    crop_auto: int
    ratio_n: int
    ratio_d: int

    @property
    def quad_keystone(self) -> bool:
        """The four-point keystone is applied (commit_params: it also turns crop_auto off)."""
        return self.k_type != 4 and self.k_type >= 0 and self.k_apply == 1

    @property
    def keystone_applied(self) -> bool:
        """True when a keystone (perspective) correction is on (commit_params' rule)."""
        if self.k_type == 4:  # the old one-axis keystone of clipping v2/v3
            return abs(self.k_h) >= 1e-4 or abs(self.k_v) >= 1e-4
        return self.quad_keystone


@dataclass(frozen=True)
class AshiftParams:
    """``ashift`` ("rotate and perspective") params, as version 5 has them (lines dropped)."""

    rotation: float
    lensshift_v: float
    lensshift_h: float
    shear: float
    f_length: float
    crop_factor: float
    orthocorr: float
    aspect: float
    mode: int
    cropmode: int
    cl: float
    cr: float
    ct: float
    cb: float

    @property
    def has_perspective(self) -> bool:
        """True when lens shift, shear or an aspect change warps the picture."""
        eps = 1e-4  # ashift.c isneutral(): smaller values have no visible effect
        aspect = self.aspect if self.mode == 1 else 1.0  # generic mode forces aspect 1
        return (
            abs(self.lensshift_v) >= eps
            or abs(self.lensshift_h) >= eps
            or abs(self.shear) >= eps
            or abs(aspect - 1.0) >= eps
        )

    @property
    def is_neutral(self) -> bool:
        """ashift.c's isneutral(): the module leaves its input unchanged."""
        eps = 1e-4
        return (
            abs(self.rotation) < eps
            and not self.has_perspective
            and self.cl < eps
            and 1 - self.cr < eps
            and self.ct < eps
            and 1 - self.cb < eps
        )


@dataclass(frozen=True)
class FlipParams:
    """``flip`` ("orientation") params: darktable orientation bits, -1 = automatic."""

    orientation: int

    @property
    def exif(self) -> int | None:
        """The EXIF orientation these bits make, or None for automatic."""
        if self.orientation == -1:
            return None
        return DT_FLIP_TO_EXIF[self.orientation]


ModuleParams = CropParams | ClippingParams | AshiftParams | FlipParams


def _unpack(fmt: str, blob: bytes, what: str) -> tuple:
    size = struct.calcsize(fmt)
    if len(blob) != size:
        raise SkipError(BAD_METADATA, f"{what} params are {len(blob)} bytes, the struct has {size}")
    return struct.unpack(fmt, blob)


def _ashift_v3_v4(v: Sequence[float | int], *, shear: bool) -> AshiftParams:
    """v3/v4 tuples to v5 fields, as ashift.c's legacy_params (``toggle`` dropped)."""
    values = list(v)
    if not shear:
        values.insert(3, 0.0)
    del values[9]  # toggle, between mode and cropmode
    return AshiftParams(*values)


def decode_module_params(operation: str, version: int, blob: bytes) -> ModuleParams | None:
    """Decode a params blob of ``crop``, ``clipping``, ``ashift`` or ``flip``.

    Args:
        operation: the module's name (``darktable:operation``).
        version: ``darktable:modversion``.
        blob: the decoded params bytes.

    Returns:
        The params, converted to the current version's fields, or None when this
        version of the module is not known here.

    Raises:
        SkipError: BAD_METADATA when the blob's length does not match the struct.
        ValueError: an operation other than the four above.
    """
    what = f"{operation} v{version}"
    if operation == "crop":
        if version == 1:
            return CropParams(*_unpack("<4f2i", blob, what))
        return None
    if operation == "clipping":
        if version == 5:
            return ClippingParams(*_unpack("<15f6i", blob, what))
        if version == 4:
            v = _unpack("<15f4i", blob, what)
            return ClippingParams(*v, -2, -2)
        if version in (2, 3):
            angle, cx, cy, cw, ch, k_h, k_v = _unpack("<7f", blob, what)
            if version == 2:  # v2 packed the keystone direction into a bit of k_h
                bits = struct.unpack("<I", struct.pack("<f", k_h))[0]
                value = struct.unpack("<f", struct.pack("<I", bits & ~0x40000000))[0]
                k_h, k_v = (value, 0.0) if bits & 0x40000000 else (0.0, value)
            k_type = 0 if k_h == 0 and k_v == 0 else 4
            corners = (0.2, 0.2, 0.8, 0.2, 0.8, 0.8, 0.2, 0.8)
            return ClippingParams(
                angle, cx, cy, cw, ch, k_h, k_v, *corners, k_type, 0, 0, 1, -2, -2
            )
        return None
    if operation == "ashift":
        if version == 5:  # then 200 floats of drawn lines, their count, 8 floats of quad
            return AshiftParams(*_unpack("<8f2i4f200fi8f", blob, what)[:14])
        if version == 4:
            return _ashift_v3_v4(_unpack("<8f3i4f", blob, what), shear=True)
        if version == 3:
            return _ashift_v3_v4(_unpack("<7f3i4f", blob, what), shear=False)
        if version == 2:
            rotation, lv, lh, f_length, crop_factor, orthocorr, aspect, mode, _toggle = _unpack(
                "<7f2i", blob, what
            )
            return AshiftParams(
                rotation, lv, lh, 0.0, f_length, crop_factor, orthocorr, aspect, mode, 0,
                0.0, 1.0, 0.0, 1.0,
            )  # fmt: skip
        if version == 1:
            rotation, lv, lh, _toggle = _unpack("<3fi", blob, what)
            return AshiftParams(
                rotation, lv, lh, 0.0, 28.0, 1.0, 100.0, 1.0, 0, 0, 0.0, 1.0, 0.0, 1.0
            )
        return None
    if operation == "flip":
        if version == 2:
            (value,) = _unpack("<i", blob, what)
            if value != -1 and value not in DT_FLIP_TO_EXIF:
                raise SkipError(BAD_METADATA, f"flip v2 orientation is {value}, not -1..7")
            return FlipParams(value)
        return None
    raise ValueError(f"no decoder for darktable operation {operation!r}")


def decode_params(text: str) -> bytes:
    """Decode a ``darktable:params`` string: hex, or ``gzNN`` + base64 of zlib.

    Raises:
        SkipError: BAD_METADATA for anything else (quoting the start of the text).
    """
    text = text.strip()
    if _GZ_RE.match(text):
        try:
            packed = base64.b64decode(text[4:], validate=True)
            inflater = zlib.decompressobj()
            blob = inflater.decompress(packed, MAX_PARAMS_BYTES)
            if inflater.unconsumed_tail:
                raise SkipError(
                    BAD_METADATA, f"params blob {text[:16]!r}... inflates past {MAX_PARAMS_BYTES}"
                )
            if not inflater.eof:
                raise SkipError(BAD_METADATA, f"params blob {text[:16]!r}... is truncated")
            return blob
        except (binascii.Error, zlib.error, ValueError) as exc:
            raise SkipError(
                BAD_METADATA, f"params blob {text[:16]!r}... is not base64 zlib ({exc})"
            ) from exc
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise SkipError(BAD_METADATA, f"params blob {text[:16]!r} is not hex") from exc


# --------------------------------------------------------------------------- history


@dataclass(frozen=True)
class HistoryEntry:
    """One ``rdf:li`` of ``darktable:history``.

    Attributes:
        index: position in the sequence (0-based).
        num: ``darktable:num`` (the position when absent).
        operation: the module, e.g. ``"clipping"``.
        enabled: ``darktable:enabled == 1``.
        modversion: the params struct version.
        params_text: ``darktable:params`` as written.
        multi_priority: the module instance (0 for the first).
        multi_name: the instance's name.
    """

    index: int
    num: int
    operation: str
    enabled: bool
    modversion: int
    params_text: str
    multi_priority: int = 0
    multi_name: str = ""

    @property
    def instance(self) -> tuple[str, int]:
        """``(operation, multi_priority)``: the module instance this entry sets."""
        return (self.operation, self.multi_priority)

    def params(self) -> bytes:
        """The decoded params blob (see :func:`decode_params`)."""
        return decode_params(self.params_text)

    def decode(self) -> ModuleParams | None:
        """This entry's params for crop/clipping/ashift/flip, None for an unknown version."""
        return decode_module_params(self.operation, self.modversion, self.params())


@dataclass(frozen=True)
class DarktableHistory:
    """A darktable sidecar's history and top-level ``darktable:*`` values.

    Attributes:
        entries: all entries, in document order.
        history_end: ``darktable:history_end``, or None (all entries apply).
        xmp_version: ``darktable:xmp_version``, or None.
        iop_order_version: ``darktable:iop_order_version``, or None.
        iop_order_list: ``(operation, instance)`` pairs of a custom pipe order, or ().
        attributes: every top-level ``darktable:NAME`` value by ``NAME``.
    """

    entries: tuple[HistoryEntry, ...]
    history_end: int | None = None
    xmp_version: int | None = None
    iop_order_version: int | None = None
    iop_order_list: tuple[tuple[str, int], ...] = ()
    attributes: dict[str, str] = field(default_factory=dict)

    def applied(self) -> list[HistoryEntry]:
        """The entries darktable replays: ``num < history_end``, in ``num`` order."""
        end = self.history_end
        kept = [e for e in self.entries if end is None or e.num < end]
        return sorted(kept, key=lambda e: e.num)

    def instances(self) -> dict[tuple[str, int], HistoryEntry]:
        """The last applied entry of each module instance (enabled or not)."""
        last: dict[tuple[str, int], HistoryEntry] = {}
        for entry in self.applied():
            last[entry.instance] = entry
        return last

    def active(self) -> dict[tuple[str, int], HistoryEntry]:
        """The module instances that end up switched on, with the entry that set them."""
        return {key: e for key, e in self.instances().items() if e.enabled}

    def pipe_order(self) -> list[str]:
        """Relative pipe order of ashift, flip, clipping, crop and the frame changers."""
        default = list(_LEGACY_ORDER if self.iop_order_version == 1 else _V30_ORDER)
        if not self.iop_order_list:
            return default
        listed: list[str] = []
        for op, _instance in self.iop_order_list:
            if op in _RELEVANT and op not in listed:
                listed.append(op)
        # A module the custom list leaves out goes right after its default predecessor.
        for position, op in enumerate(default):
            if op in listed:
                continue
            before = [p for p in default[:position] if p in listed]
            listed.insert(listed.index(before[-1]) + 1 if before else 0, op)
        return listed


def is_darktable_xmp(packet: bytes) -> bool:
    """True when ``packet`` looks like a darktable sidecar (namespace and a history).

    A byte search, no parsing: some prefix is bound to ``http://darktable.sf.net/`` and
    a ``PREFIX:history`` element appears.
    """
    if isinstance(packet, (bytearray, memoryview)):
        packet = bytes(packet)
    if not isinstance(packet, bytes):
        raise TypeError(f"an XMP packet must be bytes, got {type(packet).__name__}")
    for prefix in set(_NS_DECL_RE.findall(packet)):
        if re.search(rb"<" + re.escape(prefix) + rb":history[\s>/]", packet):
            return True
    return False


def _simple_values(elem: Element) -> dict[str, str]:
    """``darktable:*`` attributes and simple child elements of ``elem``, by local name.

    Also looks into ``rdf:Description`` children (the nested element form of an rdf:li).
    """
    values: dict[str, str] = {}
    for name, value in elem.attrib.items():
        if name.startswith(_DT):
            values.setdefault(name[len(_DT) :], value)
    for child in elem:
        tag = child.tag if isinstance(child.tag, str) else ""
        if tag.startswith(_DT) and len(child) == 0:
            values.setdefault(tag[len(_DT) :], (child.text or "").strip())
        elif tag == _RDF + "Description":
            for key, value in _simple_values(child).items():
                values.setdefault(key, value)
    return values


def _int(value: str | None, what: str) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError as exc:
        raise SkipError(BAD_METADATA, f"{what} is {value!r}, not an integer") from exc


def _order_list(text: str | None) -> tuple[tuple[str, int], ...]:
    if not text:
        return ()
    parts = [p.strip() for p in text.split(",")]
    if len(parts) % 2:
        raise SkipError(BAD_METADATA, f"darktable:iop_order_list has an odd length: {text[:40]!r}")
    pairs = []
    for op, instance in zip(parts[0::2], parts[1::2], strict=True):
        pairs.append((op, _int(instance, "darktable:iop_order_list instance") or 0))
    return tuple(pairs)


def _history_entries(history: Element) -> list[HistoryEntry]:
    items = [li for container in history for li in container if li.tag == _RDF + "li"]
    entries = []
    for index, li in enumerate(items):
        values = _simple_values(li)
        missing = [k for k in ("operation", "params", "modversion") if k not in values]
        if missing:
            raise SkipError(
                BAD_METADATA,
                f"history entry {index} lacks darktable:{', darktable:'.join(missing)}",
            )
        num = _int(values.get("num"), f"history entry {index} darktable:num")
        modversion = _int(values["modversion"], f"history entry {index} darktable:modversion")
        priority = _int(values.get("multi_priority"), f"history entry {index} multi_priority")
        enabled = _int(values.get("enabled", "0"), f"history entry {index} darktable:enabled")
        entries.append(
            HistoryEntry(
                index=index,
                num=index if num is None else num,
                operation=values["operation"],
                enabled=enabled == 1,
                modversion=modversion or 0,
                params_text=values["params"],
                multi_priority=priority or 0,
                multi_name=values.get("multi_name", ""),
            )
        )
    return entries


def _read(packet: bytes) -> tuple[DarktableHistory | None, dict[str, str]]:
    root = parse_packet(packet)
    # Top-level descriptions only: an rdf:li may nest one for its own entry.
    rdfs = [root] if root.tag == _RDF + "RDF" else list(root.iter(_RDF + "RDF"))
    descriptions = [d for rdf in rdfs for d in rdf if d.tag == _RDF + "Description"]
    if root.tag == _RDF + "Description":
        descriptions.append(root)
    attributes: dict[str, str] = {}
    history_elem: Element | None = None
    legacy = False
    for desc in descriptions:
        for key, value in _simple_values(desc).items():
            attributes.setdefault(key, value)
        for child in desc:
            if child.tag == _DT + "history" and history_elem is None:
                history_elem = child
            elif child.tag == _DT + "history_operation":
                legacy = True
    if history_elem is None:
        if legacy:
            raise SkipError(UNSUPPORTED, "darktable xmp_version 1 history (parallel sequences)")
        return None, attributes
    history = DarktableHistory(
        entries=tuple(_history_entries(history_elem)),
        history_end=_int(attributes.get("history_end"), "darktable:history_end"),
        xmp_version=_int(attributes.get("xmp_version"), "darktable:xmp_version"),
        iop_order_version=_int(attributes.get("iop_order_version"), "darktable:iop_order_version"),
        iop_order_list=_order_list(attributes.get("iop_order_list")),
        attributes=attributes,
    )
    return history, attributes


def read_darktable_history(packet: bytes) -> DarktableHistory:
    """Parse a darktable sidecar's history (see the module docstring).

    Returns:
        The history; a packet without ``darktable:history`` gives one without entries.

    Raises:
        SkipError: BAD_METADATA for unsafe or malformed XML or a broken entry,
            UNSUPPORTED for the xmp_version 1 layout.
    """
    history, attributes = _read(packet)
    if history is None:
        return DarktableHistory(entries=(), attributes=attributes)
    return history


# --------------------------------------------------------------------------- geometry


def _rotation(angle_deg: float) -> tuple[float, float]:
    if angle_deg == 0:
        return 1.0, 0.0
    theta = math.radians(angle_deg)
    return math.cos(theta), math.sin(theta)


def _crop_stage(p: CropParams, w: float, h: float) -> tuple[tuple[float, float], _Back]:
    cx, cy = min(max(p.cx, 0.0), 0.9), min(max(p.cy, 0.0), 0.9)
    cw, ch = min(max(p.cw, 0.1), 1.0), min(max(p.ch, 0.1), 1.0)
    if cw <= cx or ch <= cy:
        raise SkipError(INVALID_CROP, f"darktable crop box {p.cx, p.cy, p.cw, p.ch} is empty")
    offset = np.array([cx * w, cy * h])
    return (w * (cw - cx), h * (ch - cy)), lambda pts: pts + offset


def _clipping_stage(p: ClippingParams, w: float, h: float) -> tuple[tuple[float, float], _Back]:
    c, s = _rotation(p.angle)
    m = np.array([[c, s], [-s, c]])  # output (centred) -> input, as backtransform()
    if p.cw < 0:
        m[:, 0] = -m[:, 0]
    if p.ch < 0:
        m[:, 1] = -m[:, 1]
    cx, cy = min(max(p.cx, 0.0), 0.9), min(max(p.cy, 0.0), 0.9)
    cw, ch = min(max(abs(p.cw), 0.1), 1.0), min(max(abs(p.ch), 0.1), 1.0)
    if cw <= cx or ch <= cy:
        raise SkipError(INVALID_CROP, f"darktable clipping box {p.cx, p.cy, p.cw, p.ch} is empty")
    ac, as_ = abs(c), abs(s)
    if p.crop_auto == 1 and not p.quad_keystone:
        # Largest copy of the input's aspect (or its transpose) inside the turned image.
        best, half = -1.0, (0.0, 0.0)
        for bw, bh in ((w, h), (h, w)):
            scale = min(1.0, bw / (ac * w + as_ * h), bh / (as_ * w + ac * h))
            if scale >= best:
                best, half = scale, (scale * bw / 2, scale * bh / 2)
        x0, x1, y0, y1 = -half[0], half[0], -half[1], half[1]
    else:
        # Bounding box of the turned image, with modify_roi_out's clamps.
        ex, ey = ac * w / 2 + as_ * h / 2, as_ * w / 2 + ac * h / 2
        left, right = max(w / 2 - ex, -w), min(w / 2 + ex, 2 * w)
        top, bottom = max(h / 2 - ey, -h), min(h / 2 + ey, 2 * h)
        x0, x1, y0, y1 = left - w / 2, right - w / 2, top - h / 2, bottom - h / 2
    bx0, bx1 = x0 + cx * (x1 - x0), x0 + cw * (x1 - x0)
    by0, by1 = y0 + cy * (y1 - y0), y0 + ch * (y1 - y0)
    origin, centre = np.array([bx0, by0]), np.array([w / 2, h / 2])
    return (bx1 - bx0, by1 - by0), lambda pts: (pts + origin) @ m.T + centre


def _ashift_stage(p: AshiftParams, w: float, h: float) -> tuple[tuple[float, float], _Back]:
    c, s = _rotation(p.rotation)
    bw, bh = abs(c) * w + abs(s) * h, abs(s) * w + abs(c) * h
    if not (0 <= p.cl < p.cr <= 1 and 0 <= p.ct < p.cb <= 1):
        raise SkipError(
            INVALID_CROP, f"darktable ashift crop {p.cl, p.ct, p.cr, p.cb} is not a box in [0, 1]"
        )
    inverse = np.array([[c, -s], [s, c]])  # output (centred) -> input
    origin = np.array([p.cl * bw - bw / 2, p.ct * bh - bh / 2])
    centre = np.array([w / 2, h / 2])
    size = (bw * (p.cr - p.cl), bh * (p.cb - p.ct))
    return size, lambda pts: (pts + origin) @ inverse.T + centre


def _flip_stage(exif: int, w: float, h: float) -> tuple[tuple[float, float], _Back]:
    return display_size(w, h, exif), lambda pts: points_display_to_stored(pts, w, h, exif)


@dataclass
class _Plan:
    """The active crop-bearing modules, decoded, in pipe order, with the flip between."""

    stages: list[tuple[str, ModuleParams | None]]  # ("flip", None) marks darktable's flip
    flip_exif: int | None  # darktable's own orientation (None: automatic)
    flip_known: bool  # False when the flip entry could not be decoded


def _plan(history: DarktableHistory, perspective: Perspective) -> _Plan:
    active = history.active()
    instances = history.instances()
    order = history.pipe_order()
    decoded: dict[str, ModuleParams] = {}
    skipped: list[str] = []
    for op in (*CROP_MODULES, "flip"):
        entries = [e for (name, _mp), e in active.items() if name == op]
        if len(entries) > 1:
            raise SkipError(UNSUPPORTED, f"{len(entries)} active instances of darktable {op}")
        if not entries:
            continue
        entry = entries[0]
        params = entry.decode()
        if params is None:
            logger.warning(
                "darktable %s v%d (history entry %d) is not a known version; skipped",
                op, entry.modversion, entry.num,
            )  # fmt: skip
            skipped.append(f"{op} v{entry.modversion}")
            continue
        decoded[op] = params
    # flip: its last entry decides; switched off means no orientation at all.
    flip_exif: int | None = None
    flip_known = True
    flip_entries = [e for (name, _mp), e in instances.items() if name == "flip"]
    if flip_entries and not flip_entries[-1].enabled:
        flip_exif = 1
    elif "flip" in decoded:
        flip = decoded["flip"]
        flip_exif = flip.exif if isinstance(flip, FlipParams) else None
    elif any(s.startswith("flip ") for s in skipped):
        flip_known = False
    crop_ops = [op for op in CROP_MODULES if op in decoded]
    if isinstance(decoded.get("ashift"), AshiftParams) and decoded["ashift"].is_neutral:
        crop_ops.remove("ashift")
    skipped_crops = [s for s in skipped if not s.startswith("flip ")]
    if skipped_crops and not crop_ops:
        raise SkipError(
            UNSUPPORTED, f"darktable {', '.join(skipped_crops)} is not a supported params version"
        )
    if skipped_crops:
        logger.warning("composing the darktable crop without %s", ", ".join(skipped_crops))
    for op in crop_ops:
        params = decoded[op]
        warped = (isinstance(params, AshiftParams) and params.has_perspective) or (
            isinstance(params, ClippingParams) and params.keystone_applied
        )
        if warped:
            what = "lens shift/shear/aspect" if op == "ashift" else "keystone"
            if perspective == "skip":
                raise SkipError(UNSUPPORTED, f"darktable {op} {what} correction (perspective)")
            logger.info("darktable %s %s correction ignored: crop and angle kept", op, what)
    changers = [op for (op, _mp) in active if op in FRAME_CHANGERS]
    for changer in changers:
        later = [op for op in crop_ops if order.index(op) > order.index(changer)]
        if later:
            raise SkipError(
                UNSUPPORTED, f"darktable {changer} changes the frame before {', '.join(later)}"
            )
    stages: list[tuple[str, ModuleParams | None]] = []
    for op in order:
        if op == "flip":
            stages.append(("flip", None))
        elif op in crop_ops:
            stages.append((op, decoded[op]))
    return _Plan(stages=stages, flip_exif=flip_exif, flip_known=flip_known)


def _turns(params: ModuleParams | None) -> bool:
    if isinstance(params, ClippingParams):
        return params.angle != 0
    if isinstance(params, AshiftParams):
        return params.rotation != 0
    return False


def _compose(
    plan: _Plan,
    image_size: tuple[float, float] | None,
    orientation: int | None,
) -> tuple[Crop, Literal["stored", "display"]]:
    names = [name for name, _ in plan.stages]
    flip_at = names.index("flip")
    before, after = names[:flip_at], names[flip_at + 1 :]
    # Nothing after darktable's orientation: the crop stays in the stored frame.
    stages = plan.stages if after else plan.stages[:flip_at]
    turned = [n for n, p in stages if _turns(p)]
    exif = plan.flip_exif if plan.flip_exif is not None else orientation
    if turned and image_size is None:
        raise SkipError(
            UNSUPPORTED,
            f"darktable {'/'.join(turned)} turns the picture: the photo's size is needed",
        )
    if after and (before or turned) and (exif is None or not plan.flip_known):
        raise SkipError(
            UNSUPPORTED,
            f"darktable {'/'.join(after)} works after the automatic orientation: "
            "the photo's EXIF orientation is needed",
        )
    width, height = image_size if image_size is not None else (1.0, 1.0)
    exif = exif if exif is not None and plan.flip_known else 1
    # Forward pass: each stage's input size and its way back.
    backs: list[_Back] = []
    w, h = float(width), float(height)
    for name, params in stages:
        if name == "flip":
            (w2, h2), back = _flip_stage(exif, w, h)
        elif isinstance(params, AshiftParams):
            (w2, h2), back = _ashift_stage(params, w, h)
        elif isinstance(params, ClippingParams):
            (w2, h2), back = _clipping_stage(params, w, h)
        elif isinstance(params, CropParams):
            (w2, h2), back = _crop_stage(params, w, h)
        else:  # pragma: no cover - _plan only stages the modules above
            raise TypeError(f"no stage for {name!r}")
        backs.append(back)
        w, h = w2, h2
    corners = np.array([[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]])
    for back in reversed(backs):
        corners = back(corners)
    if after:
        frame: Literal["stored", "display"] = "display"
        corners = points_stored_to_display(corners, width, height, exif)
        fw, fh = display_size(width, height, exif)
    else:
        frame, fw, fh = "stored", width, height
    tl, tr, _br, bl = corners
    handed = (tr[0] - tl[0]) * (bl[1] - tl[1]) - (tr[1] - tl[1]) * (bl[0] - tl[0])
    if handed < 0:
        logger.info("darktable clipping mirrors the picture; the mirror is dropped")
        corners = corners[[1, 0, 3, 2]]
    return _to_crop(corners, fw, fh), frame


def _to_crop(corners: np.ndarray, width: float, height: float) -> Crop:
    pts = np.asarray(corners, dtype=np.float64)
    direction = (pts[1] - pts[0]) + (pts[2] - pts[3])
    angle = math.degrees(math.atan2(direction[1], direction[0]))
    if abs(angle) > 45 + 1e-6:
        raise SkipError(UNSUPPORTED, f"darktable turns the picture by {angle:.6g} degrees")
    edges = [pts[0, 0] / width, pts[0, 1] / height, pts[2, 0] / width, pts[2, 1] / height]
    # Float32 params composed in float64: snap dust at the frame's edges.
    edges = [min(max(v, 0.0), 1.0) if -1e-6 <= v <= 1 + 1e-6 else v for v in edges]
    if any(not 0 <= v <= 1 for v in edges):
        shown = ", ".join(f"{v:.6g}" for v in edges)
        raise SkipError(INVALID_CROP, f"darktable crop reaches outside the photo: {shown}")
    snapped = pts.copy()
    snapped[0] = (edges[0] * width, edges[1] * height)
    snapped[2] = (edges[2] * width, edges[3] * height)
    try:
        return corners_to_crop(snapped, width, height)
    except ValueError as exc:
        raise SkipError(INVALID_CROP, str(exc)) from exc


# --------------------------------------------------------------------------- settings


def _check_arguments(
    image_size: tuple[float, float] | None, orientation: int | None, perspective: str
) -> None:
    if image_size is not None:
        try:
            w, h = image_size
            ok = all(math.isfinite(float(v)) and float(v) > 0 for v in (w, h))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"image_size must be (width, height) > 0, got {image_size!r}")
    if orientation is not None:
        check_orientation(orientation)
    if perspective not in ("ignore", "skip"):
        raise ValueError(f"perspective must be 'ignore' or 'skip', got {perspective!r}")


def read_darktable_settings(
    packet: bytes,
    fields: Sequence[str] = (),
    source: Path | None = None,
    *,
    image_size: tuple[float, float] | None = None,
    orientation: int | None = None,
    perspective: Perspective = "ignore",
) -> DevelopSettings:
    """Read a darktable sidecar's crop as the project's crop record.

    Args:
        packet: the sidecar's bytes.
        fields: ``darktable:NAME`` values of the ``rdf:Description`` to copy into
            ``fields`` (other prefixes are ignored).
        source: the sidecar's path, recorded in the result.
        image_size: the photo's ``(width, height)`` in the stored frame; needed for
            turned crops.
        orientation: the photo's EXIF orientation 1..8, used where darktable's
            orientation is automatic; needed when the crop passes through it.
        perspective: ``"ignore"`` keeps crop and angle of a perspective-corrected
            picture, ``"skip"`` refuses it (UNSUPPORTED).

    Returns:
        The settings, ``origin=ORIGIN_DARKTABLE``; ``crop_frame`` is ``"display"`` (after
        darktable's orientation) or ``"stored"`` (ashift alone).

    Raises:
        SkipError: BAD_METADATA (unsafe or malformed XML, broken history entries or
            params), UNSUPPORTED (unknown params versions, perspective with
            ``perspective="skip"``, a missing size or orientation the crop needs, turns
            beyond 45 degrees), INVALID_CROP (a crop outside the photo).
        ValueError: bad ``image_size``, ``orientation`` or ``perspective``.
    """
    _check_arguments(image_size, orientation, perspective)
    if isinstance(fields, str):
        raise TypeError(f"fields must be a sequence of names, not the string {fields!r}")
    history, attributes = _read(packet)
    wanted = {}
    for name in fields:
        if not isinstance(name, str):
            raise TypeError(f"field name must be a string, got {name!r}")
        prefix, _, local = name.partition(":")
        if prefix == "darktable" and local in attributes:
            wanted[name] = attributes[local]
    if history is None or not history.entries:
        return DevelopSettings(origin=ORIGIN_DARKTABLE, has_settings=False, fields=wanted,
                               source=source)  # fmt: skip
    plan = _plan(history, perspective)
    user_orientation = plan.flip_exif
    crop: Crop | None = None
    frame: Literal["stored", "display"] = "display"
    if any(name != "flip" for name, _ in plan.stages):
        crop, frame = _compose(plan, image_size, orientation)
        if crop.is_full_frame():
            crop = None
    return DevelopSettings(
        origin=ORIGIN_DARKTABLE,
        has_settings=True,
        has_crop=crop is not None,
        crop=crop,
        crop_frame=frame,
        orientation=user_orientation,
        fields=wanted,
        source=source,
    )


# --------------------------------------------------------------------------- writing

#: Namespace of the marker CropperHead leaves in a darktable sidecar it wrote.
CROPPERHEAD_NS = "http://cropperhead.invalid/ns/1.0/"
#: Module versions the writer uses (darktable 4.2's; later versions convert them).
CROP_WRITE_VERSION = 1
ASHIFT_WRITE_VERSION = 5
#: darktable 4.2's blend params of a module that does not blend (blendop_version 11).
DEFAULT_BLENDOP = ("11", "gz14eJxjYIAACQYYOOHEgAZY0QVwggZ7CB6pfNoAAE8gGQg=")
#: ashift's "focal length" default (ashift.c DEFAULT_F_LENGTH).
_ASHIFT_F_LENGTH = 28.0
_ENTRY_FIELDS = frozenset(
    {
        "num", "operation", "enabled", "modversion", "params", "multi_name",
        "multi_name_hand_edited", "multi_priority", "blendop_version", "blendop_params",
    }
)  # fmt: skip
_XMP_VERSIONS = (4, 5)
#: How closely the written history must read back as the crop written.
_READ_BACK_EDGE = 1e-4
_READ_BACK_ANGLE_DEG = 1e-3
_MARK_PREFIX = "cropperhead"
_MARK_NAME = "SidecarDigest"
_MARK_RE = re.compile(rb"""\scropperhead:SidecarDigest\s*=\s*(["'])([0-9a-f]*)\1""")
_PAD = b"\x00 \t\r\n"
_XPACKET_END = re.compile(rb"<\?xpacket\s+end\s*=[^>]*\?>")


def encode_params(blob: bytes) -> str:
    """A params blob as darktable writes it: hex, or ``gzNN`` + base64 zlib above 100 bytes.

    ``NN`` is darktable's compression factor (``len // compressed + 1``, at most 99).
    """
    if len(blob) > 100:
        packed = zlib.compress(blob, 9)
        factor = min(len(blob) // len(packed) + 1, 99)
        return f"gz{factor:02d}" + base64.b64encode(packed).decode("ascii")
    return blob.hex()


def encode_module_params(params: CropParams | AshiftParams) -> tuple[str, int, bytes]:
    """``(operation, modversion, blob)`` of crop v1 or ashift v5 params (inverse of decoding).

    ashift's drawn lines and quad are written empty, as a new module instance has them.

    Raises:
        TypeError: other params.
    """
    if isinstance(params, CropParams):
        blob = struct.pack(
            "<4f2i", params.cx, params.cy, params.cw, params.ch, params.ratio_n, params.ratio_d
        )
        return "crop", CROP_WRITE_VERSION, blob
    if isinstance(params, AshiftParams):
        head = (
            params.rotation, params.lensshift_v, params.lensshift_h, params.shear,
            params.f_length, params.crop_factor, params.orthocorr, params.aspect,
            params.mode, params.cropmode, params.cl, params.cr, params.ct, params.cb,
        )  # fmt: skip
        blob = struct.pack("<8f2i4f200fi8f", *head, *([0.0] * 200), 0, *([0.0] * 8))
        return "ashift", ASHIFT_WRITE_VERSION, blob
    raise TypeError(f"no encoder for {type(params).__name__}")


def crop_to_darktable_params(
    crop: Crop, image_size: tuple[float, float], orientation: int
) -> tuple[AshiftParams | None, CropParams]:
    """The ashift and crop params that make ``crop`` (inverse of the reader's geometry).

    Args:
        crop: the crop in darktable's **display** frame (the stored frame shown with
            ``orientation``), fractions of that frame, Lightroom's angle.
        image_size: the photo's stored ``(width, height)``.
        orientation: darktable's orientation of the photo (EXIF code 1..8).

    Returns:
        ``(ashift, crop)``: ashift turns the stored frame by the stored-frame angle (None
        for an unturned crop) and keeps its whole bounding box; crop cuts the box out of
        what darktable shows after its orientation, freehand (ratio 0:0).

    Raises:
        ValueError: bad ``image_size`` or ``orientation``.
    """
    if not isinstance(crop, Crop):
        raise TypeError(f"crop must be a Crop, got {crop!r}")
    check_orientation(orientation)
    _check_arguments(image_size, orientation, "ignore")
    w, h = float(image_size[0]), float(image_size[1])
    angle = -crop.angle if orientation in MIRRORED else crop.angle
    if angle == 0:
        return None, CropParams(crop.left, crop.top, crop.right, crop.bottom, 0, 0)
    dw, dh = display_size(w, h, orientation)
    corners = points_display_to_stored(crop_to_corners(crop, dw, dh), w, h, orientation)
    c, s = _rotation(angle)
    bw, bh = abs(c) * w + abs(s) * h, abs(s) * w + abs(c) * h
    inverse = np.array([[c, -s], [s, c]])  # output (centred) -> input, as _ashift_stage
    turned = (corners - [w / 2, h / 2]) @ inverse + [bw / 2, bh / 2]
    shown = points_stored_to_display(turned, bw, bh, orientation)
    sw, sh = display_size(bw, bh, orientation)
    lo = np.clip(shown.min(axis=0) / [sw, sh], 0.0, 1.0)
    hi = np.clip(shown.max(axis=0) / [sw, sh], 0.0, 1.0)
    ashift = AshiftParams(
        angle, 0.0, 0.0, 0.0, _ASHIFT_F_LENGTH, 1.0, 100.0, 1.0, 0, 0, 0.0, 1.0, 0.0, 1.0
    )
    return ashift, CropParams(float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]), 0, 0)


def is_developed(packet: bytes) -> bool:
    """Whether darktable develops the photo from this sidecar's history (module docstring).

    True for a darktable sidecar with ``auto_presets_applied`` 1 and at least one applied
    history entry: darktable then ignores a Lightroom sidecar. False for anything else,
    a packet that cannot be parsed included.
    """
    try:
        history, attributes = _read(packet)
    except SkipError:
        return False
    if history is None or not history.entries or history.history_end is None:
        return False
    applied = (attributes.get("auto_presets_applied") or "").strip() == "1"
    return applied and min(history.history_end, len(history.entries)) >= 1


def written_by_cropperhead(packet: bytes) -> bool:
    """True while a darktable sidecar is byte for byte what CropperHead last wrote.

    The marker ``cropperhead:SidecarDigest`` holds the SHA-256 of the file with the
    marker's value left empty; any other program saving the file breaks it.
    """
    if isinstance(packet, (bytearray, memoryview)):
        packet = bytes(packet)
    if not isinstance(packet, bytes):
        return False
    marks = list(_MARK_RE.finditer(packet))
    if len(marks) != 1:
        return False
    mark = marks[0]
    blank = packet[: mark.start(2)] + packet[mark.end(2) :]
    return hashlib.sha256(blank).hexdigest().encode("ascii") == mark.group(2)


@dataclass
class _Item:
    """One ``rdf:li`` of the history: its span and its darktable attributes' value spans."""

    start: int
    end: int
    empty: bool
    attrs: dict[str, tuple[int, int]] = field(default_factory=dict)
    foreign: bool = False  # attributes of other namespaces, or child elements


@dataclass
class _HistoryLayout:
    items: list[_Item] = field(default_factory=list)
    seq_tag_end: int = -1
    desc: tuple[int, int] | None = None  # the description holding the history
    desc_scope: dict[str, str] = field(default_factory=dict)
    desc_has_mark: bool = False
    history_end: tuple[int, int] | None = None  # value span (attribute or element text)


def _scan_history(data: bytes) -> _HistoryLayout:
    """Byte positions of the history entries and of ``history_end`` (expat)."""
    first = len(data) - len(data.lstrip(_PAD))
    if data.startswith(b"\xef\xbb\xbf", first):
        first += 3
    end_pi = _XPACKET_END.search(data)
    stop = end_pi.end() if end_pi is not None else len(data.rstrip(_PAD))
    layout = _HistoryLayout()
    parser = xml.parsers.expat.ParserCreate(namespace_separator="\x01")
    parser.namespace_prefixes = True
    parser.ordered_attributes = True
    scopes: list[dict[str, str]] = [{}]
    pending: dict[str, str] = {}
    stack: list[tuple[str, str]] = []
    roles: list[str] = []  # "desc", "history", "seq", "li", "end", "" per open element
    items: list[_Item | None] = []

    def refuse(*_args: object) -> None:
        raise ValueError("XMP with a DTD or entities is not edited")

    def split(name: str) -> tuple[str, str, str]:
        parts = name.split("\x01")
        if len(parts) == 1:
            return "", parts[0], ""
        return parts[0], parts[1], parts[2] if len(parts) > 2 else ""

    def start_ns(prefix: str | None, uri: str | None) -> None:
        pending[prefix or ""] = uri or ""

    def start(name: str, attributes: list[str]) -> None:
        scope = {**scopes[-1], **pending}
        pending.clear()
        scopes.append(scope)
        uri, local, _prefix = split(name)
        begin = first + parser.CurrentByteIndex
        tag_end = _tag_end(data, begin)
        empty = data[tag_end - 2 : tag_end - 1] == b"/"
        parent = stack[-1] if stack else None
        parent_role = roles[-1] if roles else ""
        role = ""
        if (uri, local) == (RDF_NS, "Description") and parent == (RDF_NS, "RDF"):
            role = "desc"
            spans = _tag_attrs(data, begin, tag_end)
            for i in range(0, len(attributes), 2):
                a_uri, a_local, a_prefix = split(attributes[i])
                qname = f"{a_prefix}:{a_local}".encode() if a_prefix else a_local.encode()
                if (a_uri, a_local) == (DT_NS, "history_end") and qname in spans:
                    span = spans[qname]
                    layout.history_end = (span.value_start, span.value_end)
                if (a_uri, a_local) == (CROPPERHEAD_NS, _MARK_NAME):
                    layout.desc_has_mark = True
            desc_info.append((begin, tag_end, scope))
        elif parent_role == "desc" and (uri, local) == (DT_NS, "history"):
            role = "history"
            if layout.desc is None:
                layout.desc = desc_info[-1][:2]
                layout.desc_scope = desc_info[-1][2]
        elif parent_role == "desc" and (uri, local) == (DT_NS, "history_end") and not empty:
            role = "end"
            end_text.append(tag_end)
        elif parent_role == "history" and uri == RDF_NS and local in ("Seq", "Bag", "Alt"):
            role = "seq"
            layout.seq_tag_end = tag_end
        elif parent_role == "seq" and (uri, local) == (RDF_NS, "li"):
            role = "li"
            item = _Item(begin, tag_end if empty else -1, empty)
            spans = _tag_attrs(data, begin, tag_end)
            for i in range(0, len(attributes), 2):
                a_uri, a_local, a_prefix = split(attributes[i])
                qname = f"{a_prefix}:{a_local}".encode() if a_prefix else a_local.encode()
                if a_uri != DT_NS or qname not in spans:
                    item.foreign = True
                    continue
                span = spans[qname]
                item.attrs[a_local] = (span.value_start, span.value_end)
            if not empty:
                item.foreign = True  # element-form entries are not edited
            layout.items.append(item)
            items.append(item)
        if role != "li":
            items.append(None)
        stack.append((uri, local))
        roles.append(role)

    def end(_name: str) -> None:
        role = roles.pop()
        stack.pop()
        scopes.pop()
        item = items.pop()
        position = first + parser.CurrentByteIndex
        if role == "li" and item is not None and not item.empty:
            item.end = _tag_end(data, position)
        if role == "end" and end_text:
            layout.history_end = (end_text.pop(), position)

    desc_info: list[tuple[int, int, dict[str, str]]] = []
    end_text: list[int] = []
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.StartNamespaceDeclHandler = start_ns
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.Parse(data[first:stop], True)
    return layout


def _entry_text(data: bytes, template: _Item, values: dict[str, str]) -> bytes:
    """``template``'s ``rdf:li`` with its darktable attribute values replaced."""
    missing = sorted(set(template.attrs) - set(values))
    if missing:
        raise ValueError(f"history entry field darktable:{missing[0]} is not known here")
    text = bytearray(data[template.start : template.end])
    for name, (a, b) in sorted(template.attrs.items(), key=lambda kv: -kv[1][0]):
        text[a - template.start : b - template.start] = values[name].encode("utf-8")
    return bytes(text)


def _raw_values(data: bytes, item: _Item) -> dict[str, str]:
    return {name: data[a:b].decode("utf-8") for name, (a, b) in item.attrs.items()}


def _same_crop(got: Crop | None, want: Crop) -> bool:
    if got is None:
        return want.is_full_frame(tol=_READ_BACK_EDGE)
    edges = np.abs(got.as_array()[:4] - want.as_array()[:4]).max()
    return bool(edges <= _READ_BACK_EDGE and abs(got.angle - want.angle) <= _READ_BACK_ANGLE_DEG)


def darktable_orientation(packet: bytes, orientation: int | None) -> int | None:
    """The EXIF orientation darktable shows the photo with: its flip step, else ``orientation``.

    Args:
        packet: the darktable sidecar.
        orientation: the photo's EXIF orientation (darktable's "automatic"), or None.

    Returns:
        The orientation, or None when it is automatic and ``orientation`` is None.

    Raises:
        SkipError: the history cannot be read (see :func:`read_darktable_settings`).
    """
    history, _attributes = _read(packet)
    if history is None or not history.entries:
        return orientation
    plan = _plan(history, "ignore")
    if not plan.flip_known:
        raise SkipError(UNSUPPORTED, "darktable flip step of an unknown version")
    return plan.flip_exif if plan.flip_exif is not None else orientation


def merge_crop_into_darktable(
    packet: bytes,
    crop: Crop,
    image_size: tuple[float, float],
    orientation: int | None,
) -> bytes:
    """Append a crop (and a rotation) to a developed darktable history (module docstring).

    Args:
        packet: the darktable sidecar's bytes (UTF-8).
        crop: the crop in the **stored** frame, Lightroom's form (as for
            :func:`cropperhead.metadata.xmp.merge_crop_into_xmp`).
        image_size: the photo's stored ``(width, height)`` in pixels.
        orientation: the photo's EXIF orientation, used where darktable's orientation is
            automatic; None when unknown.

    Returns:
        The new sidecar bytes: every byte of ``packet`` kept, the steps inserted after the
        last history entry, ``history_end`` moved past them, the marker set.

    Raises:
        TypeError: ``crop`` is not a :class:`Crop`.
        ValueError: the sidecar cannot be edited safely or the crop cannot be expressed
            (one line saying why; see the module docstring's list).
    """
    if not isinstance(crop, Crop):
        raise TypeError(f"crop must be a Crop, got {crop!r}")
    _check_arguments(image_size, orientation, "ignore")
    if not isinstance(packet, (bytes, bytearray)):
        raise TypeError(f"a darktable sidecar must be bytes, got {type(packet).__name__}")
    data = bytes(packet)
    try:
        history, attributes = _read(data)
        shown_orientation = darktable_orientation(data, orientation)
    except SkipError as exc:
        raise ValueError(f"darktable history cannot be edited: {exc.detail}") from exc
    if history is None or not is_developed(data):
        raise ValueError(
            "darktable has not developed this photo yet (no applied history): it imports the "
            "Lightroom sidecar instead"
        )
    version = attributes.get("xmp_version", "").strip()
    if not version.isdigit() or int(version) not in _XMP_VERSIONS:
        raise ValueError(f"darktable:xmp_version {version or 'absent'} is not edited (4 or 5)")
    count = len(history.entries)
    if sorted(e.num for e in history.entries) != list(range(count)):
        raise ValueError("darktable history entries are not numbered 0..n-1; not edited")
    end = history.history_end if history.history_end is not None else count
    if end < count:
        raise ValueError(
            f"darktable history has {count - end} undone step(s) above history_end; "
            "appending would redo them (compress or discard them in darktable first)"
        )
    if history.iop_order_list:
        listed = {op for op, _instance in history.iop_order_list}
        absent = [op for op in ("ashift", "crop") if op not in listed]
        if absent:
            raise ValueError(f"darktable's custom module order has no {', '.join(absent)}")
    if shown_orientation is None:
        raise ValueError(
            "darktable orients the photo automatically and its EXIF orientation is unknown"
        )
    width, height = float(image_size[0]), float(image_size[1])
    shown = crop_stored_to_display(crop, width, height, shown_orientation)
    ashift, box = crop_to_darktable_params(shown, (width, height), shown_orientation)
    if box.cx > 0.9 or box.cy > 0.9 or box.cw < 0.1 or box.ch < 0.1:
        raise ValueError(
            f"darktable's crop module would clamp the box {box.cx:.4f}, {box.cy:.4f}, "
            f"{box.cw:.4f}, {box.ch:.4f} (edges beyond 0.9 / 0.1)"
        )
    active = history.active()
    first_ashift = active.get(("ashift", 0))
    if first_ashift is not None:
        params = first_ashift.decode()
        if not isinstance(params, AshiftParams):
            raise ValueError(f"darktable ashift v{first_ashift.modversion} is not a known version")
        if params.has_perspective:
            raise ValueError(
                "darktable's rotate and perspective module corrects the perspective: a new "
                "crop can neither keep nor drop it"
            )
    for (op, _priority), entry in active.items():
        params = entry.decode() if op == "clipping" else None
        if isinstance(params, ClippingParams) and params.keystone_applied:
            raise ValueError(
                "darktable's crop and rotate module corrects the perspective (keystone): a "
                "new crop can neither keep nor drop it"
            )
    switch_off = [
        e
        for (op, priority), e in active.items()
        if op == "clipping" or (op in ("crop", "ashift") and priority != 0)
    ]
    if ashift is None and first_ashift is not None:
        switch_off.append(first_ashift)
    try:
        layout = _scan_history(data)
    except (xml.parsers.expat.ExpatError, ValueError) as exc:
        raise ValueError(f"darktable sidecar cannot be edited safely: {exc}") from exc
    if len(layout.items) != count or layout.desc is None or layout.history_end is None:
        raise ValueError("darktable history has a layout this writer does not edit")
    if any(item.foreign for item in layout.items):
        raise ValueError("darktable history entries in element form are not edited")

    template = layout.items[-1]
    flips = [e for e in history.entries if e.operation == "flip"]
    blend = DEFAULT_BLENDOP
    if flips:
        raw = _raw_values(data, layout.items[flips[-1].index])
        if "blendop_version" in raw and "blendop_params" in raw:
            blend = (raw["blendop_version"], raw["blendop_params"])
    steps: list[bytes] = []
    num = count
    for entry in sorted(switch_off, key=lambda e: e.num):
        values = _raw_values(data, layout.items[entry.index]) | {"num": str(num), "enabled": "0"}
        steps.append(_entry_text(data, layout.items[entry.index], values))
        num += 1
    for params in (ashift, box):
        if params is None:
            continue
        operation, modversion, blob = encode_module_params(params)
        values = {
            "num": str(num),
            "operation": operation,
            "enabled": "1",
            "modversion": str(modversion),
            "params": encode_params(blob),
            "multi_name": "",
            "multi_name_hand_edited": "0",
            "multi_priority": "0",
            "blendop_version": blend[0],
            "blendop_params": blend[1],
        }
        steps.append(_entry_text(data, template, values))
        num += 1

    before = layout.items[-2].end if count > 1 else layout.seq_tag_end
    gap = data[before : template.start]
    separator = gap if gap and not gap.strip() else b" "
    edits = [(template.end, template.end, b"".join(separator + step for step in steps))]
    edits.append((*layout.history_end, str(end + len(steps)).encode()))
    desc_start, desc_tag_end = layout.desc
    if not layout.desc_has_mark:
        if layout.desc_scope.get(_MARK_PREFIX, CROPPERHEAD_NS) != CROPPERHEAD_NS:
            raise ValueError(f"prefix {_MARK_PREFIX!r} is bound to another namespace; not edited")
        spans = _tag_attrs(data, desc_start, desc_tag_end).values()
        position, sep, quote = _insertion(data, desc_start, desc_tag_end, spans)
        mark = f"{_MARK_PREFIX}:{_MARK_NAME}={quote}{quote}"
        if layout.desc_scope.get(_MARK_PREFIX) != CROPPERHEAD_NS:
            mark = f"xmlns:{_MARK_PREFIX}={quote}{CROPPERHEAD_NS}{quote}{sep}{mark}"
        edits.append((position, position, (sep + mark).encode()))
    edits.sort()
    out = bytearray(data)
    for a, b, text in reversed(edits):
        out[a:b] = text
    merged = _set_mark(bytes(out))
    _check_written(merged, shown, (width, height), orientation)
    return merged


def _set_mark(data: bytes) -> bytes:
    marks = list(_MARK_RE.finditer(data))
    if len(marks) != 1:
        raise ValueError("the sidecar names cropperhead:SidecarDigest more than once; not edited")
    mark = marks[0]
    blank = data[: mark.start(2)] + data[mark.end(2) :]
    digest = hashlib.sha256(blank).hexdigest().encode("ascii")
    return data[: mark.start(2)] + digest + data[mark.end(2) :]


def _check_written(
    merged: bytes, want: Crop, image_size: tuple[float, float], orientation: int | None
) -> None:
    """The new history must read back as the crop written (never write what it is not)."""
    try:
        settings = read_darktable_settings(merged, image_size=image_size, orientation=orientation)
    except SkipError as exc:
        raise ValueError(f"the edited darktable history would not read back: {exc.detail}") from exc
    if settings.crop is not None and settings.crop_frame != "display":
        raise ValueError("the edited darktable history crops before its orientation; not edited")
    if not _same_crop(settings.crop, want):
        got = settings.crop.to_dict() if settings.crop is not None else "no crop"
        raise ValueError(f"the edited darktable history would read back as {got}; not edited")
