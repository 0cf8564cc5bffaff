"""darktable module parameters: the structs of crop, clipping, ashift and flip.

darktable stores each history step's module parameters as a C struct, serialised as a
blob (:func:`decode_params`: hex, or ``gz`` + base64 zlib). Which struct a blob holds
depends on the module *and* its version, so decoding is a table keyed by
``(operation, modversion)`` (:data:`DECODERS`): adding a version is adding a row, and a
version without a row is one this reader does not know (None, not an error). Legacy
versions are converted to the current version's fields here, once, so the geometry only
ever sees :class:`CropParams`, :class:`ClippingParams`, :class:`AshiftParams` and
:class:`FlipParams`. The writer's side is :data:`ENCODERS`, keyed the same way.

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
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import astuple, dataclass
from typing import Any

from cropperhead.metadata.types import BAD_METADATA, SkipError

__all__ = [
    "ASHIFT_WRITE_VERSION",
    "CROP_WRITE_VERSION",
    "DECODERS",
    "DT_FLIP_TO_EXIF",
    "ENCODERS",
    "MAX_PARAMS_BYTES",
    "AshiftParams",
    "ClippingParams",
    "CropParams",
    "FlipParams",
    "ModuleParams",
    "decode_module_params",
    "decode_params",
    "encode_module_params",
    "encode_params",
]

#: A decompressed ``gz`` params blob may not exceed this (the largest struct is ~1 KiB).
MAX_PARAMS_BYTES = 1024 * 1024

#: darktable orientation bits (flip v2 params) -> EXIF orientation.
DT_FLIP_TO_EXIF = {0: 1, 1: 4, 2: 2, 3: 3, 4: 5, 5: 6, 6: 8, 7: 7}
#: Module versions the writer uses (darktable 4.2's; later versions convert them).
CROP_WRITE_VERSION = 1
ASHIFT_WRITE_VERSION = 5

_GZ_RE = re.compile(r"gz\d\d")


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


# --------------------------------------------------------------------------- decoding

#: How a decoder turns the unpacked struct into the current version's params.
_Convert = Callable[[tuple[Any, ...]], ModuleParams]


def _clipping_v2_v3(v: Sequence[float], *, packed_direction: bool) -> ClippingParams:
    """v2/v3 tuples to v5 fields, as clipping.c's legacy_params."""
    angle, cx, cy, cw, ch, k_h, k_v = v
    if packed_direction:  # v2 packed the keystone direction into a bit of k_h
        bits = struct.unpack("<I", struct.pack("<f", k_h))[0]
        value = struct.unpack("<f", struct.pack("<I", bits & ~0x40000000))[0]
        k_h, k_v = (value, 0.0) if bits & 0x40000000 else (0.0, value)
    k_type = 0 if k_h == 0 and k_v == 0 else 4
    corners = (0.2, 0.2, 0.8, 0.2, 0.8, 0.8, 0.2, 0.8)
    return ClippingParams(angle, cx, cy, cw, ch, k_h, k_v, *corners, k_type, 0, 0, 1, -2, -2)


def _ashift_v3_v4(v: Sequence[float | int], *, shear: bool) -> AshiftParams:
    """v3/v4 tuples to v5 fields, as ashift.c's legacy_params (``toggle`` dropped)."""
    values = list(v)
    if not shear:
        values.insert(3, 0.0)
    del values[9]  # toggle, between mode and cropmode
    return AshiftParams(*values)


def _ashift_v2(v: Sequence[float | int]) -> AshiftParams:
    """v2 (no shear, no crop) to v5 fields, as ashift.c's legacy_params."""
    rotation, lv, lh, f_length, crop_factor, orthocorr, aspect, mode, _toggle = v
    return AshiftParams(
        rotation, lv, lh, 0.0, f_length, crop_factor, orthocorr, aspect, mode, 0,
        0.0, 1.0, 0.0, 1.0,
    )  # fmt: skip


def _ashift_v1(v: Sequence[float | int]) -> AshiftParams:
    """v1 (rotation and lens shift only) to v5 fields, as ashift.c's legacy_params."""
    rotation, lv, lh, _toggle = v
    return AshiftParams(rotation, lv, lh, 0.0, 28.0, 1.0, 100.0, 1.0, 0, 0, 0.0, 1.0, 0.0, 1.0)


def _flip_v2(v: Sequence[int]) -> FlipParams:
    (value,) = v
    if value != -1 and value not in DT_FLIP_TO_EXIF:
        raise SkipError(BAD_METADATA, f"flip v2 orientation is {value}, not -1..7")
    return FlipParams(value)


#: ``(operation, modversion)`` -> (the blob's struct format, its conversion to the
#: current version's params). A version missing here is not known to this reader.
DECODERS: dict[tuple[str, int], tuple[str, _Convert]] = {
    ("crop", 1): ("<4f2i", lambda v: CropParams(*v)),
    ("clipping", 5): ("<15f6i", lambda v: ClippingParams(*v)),
    ("clipping", 4): ("<15f4i", lambda v: ClippingParams(*v, -2, -2)),
    ("clipping", 3): ("<7f", lambda v: _clipping_v2_v3(v, packed_direction=False)),
    ("clipping", 2): ("<7f", lambda v: _clipping_v2_v3(v, packed_direction=True)),
    # v5: then 200 floats of drawn lines, their count, 8 floats of quad (all dropped)
    ("ashift", 5): ("<8f2i4f200fi8f", lambda v: AshiftParams(*v[:14])),
    ("ashift", 4): ("<8f3i4f", lambda v: _ashift_v3_v4(v, shear=True)),
    ("ashift", 3): ("<7f3i4f", lambda v: _ashift_v3_v4(v, shear=False)),
    ("ashift", 2): ("<7f2i", _ashift_v2),
    ("ashift", 1): ("<3fi", _ashift_v1),
    ("flip", 2): ("<i", _flip_v2),
}
_DECODED_OPERATIONS = frozenset(operation for operation, _version in DECODERS)


def _unpack(fmt: str, blob: bytes, what: str) -> tuple[Any, ...]:
    size = struct.calcsize(fmt)
    if len(blob) != size:
        raise SkipError(BAD_METADATA, f"{what} params are {len(blob)} bytes, the struct has {size}")
    return struct.unpack(fmt, blob)


def decode_module_params(operation: str, version: int, blob: bytes) -> ModuleParams | None:
    """Decode a params blob of ``crop``, ``clipping``, ``ashift`` or ``flip``.

    Args:
        operation: the module's name (``darktable:operation``).
        version: ``darktable:modversion``.
        blob: the decoded params bytes.

    Returns:
        The params, converted to the current version's fields, or None when this
        version of the module is not known here (no row in :data:`DECODERS`).

    Raises:
        SkipError: BAD_METADATA when the blob's length does not match the struct.
        ValueError: an operation other than the four above.
    """
    if operation not in _DECODED_OPERATIONS:
        raise ValueError(f"no decoder for darktable operation {operation!r}")
    decoder = DECODERS.get((operation, version))
    if decoder is None:
        return None
    fmt, convert = decoder
    return convert(_unpack(fmt, blob, f"{operation} v{version}"))


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


# --------------------------------------------------------------------------- encoding


def _pack_ashift_v5(params: AshiftParams) -> bytes:
    """An ashift v5 blob, its drawn lines and quad empty as a new module instance has them."""
    return struct.pack("<8f2i4f200fi8f", *astuple(params), *([0.0] * 200), 0, *([0.0] * 8))


#: ``(operation, modversion)`` -> the blob of params of that version (the writer's).
ENCODERS: dict[tuple[str, int], Callable[[Any], bytes]] = {
    ("crop", CROP_WRITE_VERSION): lambda params: struct.pack("<4f2i", *astuple(params)),
    ("ashift", ASHIFT_WRITE_VERSION): _pack_ashift_v5,
}
#: The params types the writer writes, and as which module version.
_WRITTEN_AS: dict[type, tuple[str, int]] = {
    CropParams: ("crop", CROP_WRITE_VERSION),
    AshiftParams: ("ashift", ASHIFT_WRITE_VERSION),
}


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
    for kind, (operation, version) in _WRITTEN_AS.items():
        if isinstance(params, kind):
            return operation, version, ENCODERS[(operation, version)](params)
    raise TypeError(f"no encoder for {type(params).__name__}")
