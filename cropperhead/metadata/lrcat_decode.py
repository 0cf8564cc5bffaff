"""Decode a Lightroom Classic catalog's column values: pure functions, no SQLite.

- :func:`decode_catalog_text` reads a text column that may be stored compressed.
- :func:`catalog_photo_path` builds a photo's path from the folder tables, and
  ``_catalog_relative_photo`` the same photo through ``relativePathFromCatalog``.
- :func:`orientation_from_code` maps Lightroom's orientation letters
  (:data:`LIGHTROOM_ORIENTATIONS`) to EXIF codes.
- ``_field_keys`` and ``_field_value``: the ``--field crs:NAME`` names asked for, and a
  develop setting written as XMP would show it.
- ``_as_str`` and ``_as_size``: text and size columns as the connection returns them.

:mod:`cropperhead.metadata.lrcat` applies them to each catalog row; its module docstring
has the rules.
"""

from __future__ import annotations

import json
import math
import os
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "LIGHTROOM_ORIENTATIONS",
    "MAX_TEXT_BYTES",
    "catalog_photo_path",
    "decode_catalog_text",
    "orientation_from_code",
]

#: Lightroom's orientation letters -> EXIF orientation.
#:
#: Name the stored picture's corners A, B, C, D clockwise from its top-left. Lightroom's
#: code lists where the stored top-left and top-right corners (A and B) are shown, named
#: the same way on the displayed picture. AB, BC, CD and DA are documented
#: (docs/lightroom-crop.md; hfiguiere/lrcat-extractor, src/images.rs, maps the same four
#: and no mirrored ones): BC = 6 puts the stored top-left corner at the display top-right,
#: which is EXIF 6 (turn 90 degrees clockwise). The mirrored codes follow from that same
#: reading with the EXIF point maps of docs/lightroom-crop.md: 2 (W-x, y) sends A to B and
#: B to A, so BA; 4 (x, H-y) gives DC; 5 (y, x) gives AD; 7 (H-y, W-x) gives CB. The four
#: mirrored maps are their own inverses, so reading the code the other way round (which
#: stored corners are shown at the display's top-left and top-right) gives the same
#: table. tests/metadata/test_lrcat.py checks every code against
#: cropperhead.geometry.points_stored_to_display. No real catalog row with a mirrored
#: code was available to confirm them.
LIGHTROOM_ORIENTATIONS: dict[str, int] = {
    "AB": 1,
    "BA": 2,
    "CD": 3,
    "DC": 4,
    "AD": 5,
    "BC": 6,
    "CB": 7,
    "DA": 8,
}

#: Largest compressed text inflated, in bytes.
MAX_TEXT_BYTES = 64 * 1024 * 1024


def orientation_from_code(code: str | bytes | None) -> int | None:
    """EXIF orientation (1..8) of a Lightroom orientation code such as ``"AB"``.

    Args:
        code: ``Adobe_images.orientation``; surrounding spaces and case are ignored.

    Returns:
        The EXIF code, or ``None`` for ``None``, an empty or an unknown code.
    """
    if isinstance(code, bytes):
        code = code.decode("ascii", "replace")
    if not isinstance(code, str):
        return None
    return LIGHTROOM_ORIENTATIONS.get(code.strip().upper())


def catalog_photo_path(
    absolute_path: str, path_from_root: str | None, base_name: str, extension: str | None
) -> Path:
    """The photo file a catalog row names: root folder + folder + base name + extension.

    The parts are joined as strings (``/`` added between them where missing) and only
    then made a ``Path``, so a Windows catalog's ``C:/Users/...`` stays as written when
    read on Linux (``str()`` gives it back unchanged; it is not made absolute).

    Args:
        absolute_path: ``AgLibraryRootFolder.absolutePath`` (ends with ``/``).
        path_from_root: ``AgLibraryFolder.pathFromRoot`` (``""`` or ``"sub/dir/"``).
        base_name: ``AgLibraryFile.baseName``.
        extension: ``AgLibraryFile.extension``; empty for a file without one.

    Returns:
        The photo's path.

    Raises:
        ValueError: an empty root folder or base name.
    """
    if not absolute_path:
        raise ValueError(f"root folder path is empty: {absolute_path!r}")
    if not base_name:
        raise ValueError(f"file base name is empty: {base_name!r}")
    root = absolute_path if absolute_path.endswith(("/", "\\")) else absolute_path + "/"
    folder = path_from_root or ""
    if folder and not folder.endswith(("/", "\\")):
        folder += "/"
    name = f"{base_name}.{extension}" if extension else base_name
    return Path(root + folder + name)


def _catalog_relative_photo(
    catalog: Path, relative_root: str | None, photo: Path, absolute_path: Any
) -> Path | None:
    """The photo's path through ``relativePathFromCatalog``.

    The relative root folder is joined to the catalog's folder, then the photo's path
    below its root folder (``pathFromRoot`` + file name, taken from ``photo``) follows.
    ``..`` parts are folded without resolving links. None when there is no relative path
    or it is absolute (Lightroom writes ``../../D:/...`` for another drive on Windows;
    such a path simply does not exist here). See ``catalog_relative_photo`` in
    :mod:`cropperhead.metadata.lrcat`.
    """
    root = _as_str(absolute_path) or ""
    if not relative_root or not str(photo).startswith(root):
        return None
    below = str(photo)[len(root) :].lstrip("/\\")
    relative_root = relative_root.replace("\\", "/")
    if relative_root.startswith("/"):
        return None
    return Path(os.path.normpath(os.path.join(catalog.parent, relative_root, below)))


def _looks_compressed(data: bytes) -> bool:
    """A 4-byte length, then a zlib header (deflate method, valid header checksum)."""
    return len(data) >= 6 and data[4] & 0x0F == 8 and (data[4] << 8 | data[5]) % 31 == 0


def decode_catalog_text(
    value: str | bytes | None, *, max_bytes: int = MAX_TEXT_BYTES
) -> str | None:
    """Text of a catalog column stored plain or compressed.

    Newer catalogs store some columns as a BLOB: a 4-byte big-endian uncompressed length,
    then a zlib stream. Other BLOBs are plain UTF-8.

    Args:
        value: the column value (``str``, ``bytes`` or ``None``).
        max_bytes: largest uncompressed size accepted.

    Returns:
        The text, or ``None`` for ``None``.

    Raises:
        ValueError: a corrupt or truncated zlib stream, a length that does not match,
            a size over ``max_bytes`` or bytes that are not UTF-8.
        TypeError: a value of another type (a number).
    """
    if value is None or isinstance(value, str):
        return value
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected text or a blob, got {type(value).__name__}: {value!r}")
    data = bytes(value)
    if _looks_compressed(data):
        size = int.from_bytes(data[:4], "big")
        if size > max_bytes:
            raise ValueError(f"compressed text claims {size} bytes, more than {max_bytes}")
        inflater = zlib.decompressobj()
        try:
            data_out = inflater.decompress(data[4:], size + 1)
        except zlib.error as exc:
            raise ValueError(f"corrupt compressed text: {exc}") from exc
        if not inflater.eof or len(data_out) != size:
            raise ValueError(
                f"compressed text does not match its length: header says {size} bytes, "
                f"stream gives {len(data_out)}{'' if inflater.eof else ' or more'}"
            )
        data = data_out
    elif len(data) > max_bytes:
        raise ValueError(f"text of {len(data)} bytes is longer than {max_bytes}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"text is not UTF-8: {exc}") from exc


def _field_value(value: Any) -> str:
    """A develop setting as XMP would write it (``fields`` in :mod:`cropperhead.metadata.lrcat`)."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _field_keys(fields: Sequence[str]) -> dict[str, str]:
    """``{"crs:NAME": "NAME"}`` for the crs fields asked for; other namespaces are dropped."""
    if isinstance(fields, str):
        raise TypeError(f"fields must be a sequence of names, not one string: {fields!r}")
    keys: dict[str, str] = {}
    for name in fields:
        if not isinstance(name, str) or ":" not in name or name.endswith(":"):
            raise ValueError(f"a field must be named PREFIX:NAME (crs:Exposure2012): {name!r}")
        prefix, key = name.split(":", 1)
        if prefix == "crs":
            keys[name] = key
    return keys


def _as_str(value: Any) -> str | None:
    """A path-like text column (bytes from the connection) as ``str``; odd bytes kept."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return str(value)


def _as_size(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) and value > 0 else None
