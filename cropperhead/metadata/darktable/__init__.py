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
    needed only where the answer depends on them (see :mod:`.geometry`); when one is needed
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
    a Lightroom sidecar (see :mod:`.history`).
:func:`merge_crop_into_darktable` (``packet, crop, image_size, orientation -> bytes``)
    The inverse of the reader: the sidecar with a crop step (and a rotation step) appended
    to its history; see :mod:`.merge`. :func:`crop_to_darktable_params` is its geometry,
    :func:`encode_params` its blob encoding, :func:`written_by_cropperhead` recognises a
    sidecar it wrote that nobody saved since.

Errors: malformed XML, a DTD or entity declaration, a history entry without operation,
params or modversion, a blob that is neither hex nor ``gz``/base64/zlib, or a blob whose
length does not match its module version's struct all raise
``SkipError(BAD_METADATA, one line)``. Wrong *arguments* (an orientation outside 1..8,
a non-positive size, an unknown ``perspective``) raise ``ValueError``.

Modules
-------
- :mod:`.params`: the module params structs, decoded and encoded by tables keyed by
  ``(operation, modversion)``, and darktable's blob encoding;
- :mod:`.history`: parsing the history stack, which entries darktable applies, whether it
  develops the photo from this sidecar;
- :mod:`.geometry`: the crop the active modules make, in the stored or display frame, and
  its inverse;
- :mod:`.settings`: the reader, the history's crop as the project's crop record;
- :mod:`.merge`: the writer, a crop appended to a developed history.

This package exports the names the rest of the project uses.
"""

from __future__ import annotations

from cropperhead.metadata.darktable.geometry import crop_to_darktable_params
from cropperhead.metadata.darktable.history import (
    DT_NS,
    DarktableHistory,
    HistoryEntry,
    is_darktable_xmp,
    is_developed,
    read_darktable_history,
)
from cropperhead.metadata.darktable.merge import (
    CROPPERHEAD_NS,
    DEFAULT_BLENDOP,
    merge_crop_into_darktable,
    written_by_cropperhead,
)
from cropperhead.metadata.darktable.params import (
    ASHIFT_WRITE_VERSION,
    CROP_WRITE_VERSION,
    DT_FLIP_TO_EXIF,
    MAX_PARAMS_BYTES,
    AshiftParams,
    ClippingParams,
    CropParams,
    FlipParams,
    ModuleParams,
    decode_module_params,
    decode_params,
    encode_module_params,
    encode_params,
)
from cropperhead.metadata.darktable.settings import (
    CROP_MODULES,
    FRAME_CHANGERS,
    darktable_orientation,
    read_darktable_settings,
)

__all__ = [
    "ASHIFT_WRITE_VERSION",
    "CROPPERHEAD_NS",
    "CROP_MODULES",
    "CROP_WRITE_VERSION",
    "DEFAULT_BLENDOP",
    "DT_FLIP_TO_EXIF",
    "DT_NS",
    "FRAME_CHANGERS",
    "MAX_PARAMS_BYTES",
    "AshiftParams",
    "ClippingParams",
    "CropParams",
    "DarktableHistory",
    "FlipParams",
    "HistoryEntry",
    "ModuleParams",
    "crop_to_darktable_params",
    "darktable_orientation",
    "decode_module_params",
    "decode_params",
    "encode_module_params",
    "encode_params",
    "is_darktable_xmp",
    "is_developed",
    "merge_crop_into_darktable",
    "read_darktable_history",
    "read_darktable_settings",
    "written_by_cropperhead",
]
