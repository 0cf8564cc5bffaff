"""Read crops from a Lightroom Classic catalog (``*.lrcat``), never changing it.

A catalog is an SQLite database. This module reads, for every row of
``Adobe_images`` (masters and virtual copies), the photo's path, its orientation and
its live develop settings, and turns them into :class:`DevelopSettings` records.

Public API:

- :func:`open_catalog(path) <open_catalog>` -> ``sqlite3.Connection``: a read-only
  connection that never locks or changes the catalog.
- :func:`iter_catalog(path, fields=()) <iter_catalog>` -> iterator of
  :class:`DevelopSettings` | :class:`SkippedRow`, one item per ``Adobe_images`` row, in
  ``id_local`` order.
- :class:`SkippedRow`: a row that cannot be used (``source``, ``reason``, ``detail``).
- :func:`catalog_photo_path` builds a photo's path from the folder tables.
- :func:`decode_catalog_text` reads a text column that may be stored compressed.
- :func:`orientation_from_code` maps Lightroom's orientation letters to EXIF codes.
- :class:`CatalogError` (a ``ValueError``): the file is not a readable catalog.

Opening without harm (:func:`open_catalog`):

- The catalog is opened through an SQLite URI with ``mode=ro`` (the path
  percent-encoded, so spaces, ``?``, ``#``, ``%`` and non-ASCII names are safe), with
  ``PRAGMA query_only`` on; nothing is ever written.
- A catalog in WAL mode (Lightroom Classic's, see byte 18 of the SQLite header) with no
  ``-wal`` file beside it, or an empty one, is opened with ``immutable=1``: a read-only
  WAL connection would otherwise create ``-wal`` and ``-shm`` files next to the catalog
  and leave them there (file permissions do not stop that for root). Nothing is pending
  in that case, so this reads the whole catalog. With a non-empty ``-wal`` (Lightroom
  running, or a crash) the catalog is read with ``mode=ro`` so that the pending pages
  are seen; SQLite may then create a missing ``-shm`` index beside that ``-wal``.
- When Lightroom has the catalog open it holds an exclusive lock and reading fails with
  "database is locked" (after a short busy wait). The reader then logs a warning and
  reads the catalog file as it lies on disk with ``immutable=1`` (no locks at all);
  edits that Lightroom has not written back yet are missed. The same fallback applies
  when the lock appears in the middle of :func:`iter_catalog`.
- :func:`iter_catalog` reads rows in small batches, each its own short read, so it holds
  no lock between batches while its caller works on the rows.

Rows (:func:`iter_catalog`):

- ``photo`` = ``AgLibraryRootFolder.absolutePath + AgLibraryFolder.pathFromRoot +
  AgLibraryFile.baseName + "." + extension`` (:func:`catalog_photo_path`); a Windows
  catalog's ``C:/...`` path is kept as written. Whether the file exists is not checked
  here (the scan reports ``missing-file``).
- ``catalog_relative_photo``: the same photo through the root folder's
  ``relativePathFromCatalog`` (the catalog's folder + that relative path +
  ``pathFromRoot`` + file name, ``..`` folded), where the photo lies when the catalog
  and its photos were moved or copied together (to another disk or machine); None when
  the column is absent or empty. The scan tries it when ``photo`` is missing.
- ``source`` = the catalog path (absolute); ``origin`` = ``"lrcat"``;
  ``sample_key`` = ``f"lrcat:{catalog}:{id_local}"``; ``copy_name`` = ``copyName`` for
  a virtual copy (``masterImage`` set; ``"copy <id_local>"`` when it has no name), else
  ``None``. Each virtual copy is its own item with its own crop.
- ``orientation``: Lightroom's letters (:func:`orientation_from_code`), ``None`` when
  missing or unknown.
- ``has_settings``: an ``Adobe_imageDevelopSettings`` row exists for the image.
- The crop comes **only** from the live develop settings,
  ``Adobe_imageDevelopSettings.text`` (a Lua table, :mod:`cropperhead.metadata.lua`;
  plain text or compressed, :func:`decode_catalog_text`). ``Adobe_AdditionalMetadata.xmp``
  is never read: it caches an XMP packet that may hold a stale crop (for an exported
  JPEG, the crop of its original).
- Crop rule: ``has_crop`` is True when ``croppedWidth`` is not ``'uncropped'``, ``HasCrop``
  is true or absent, and at least one of ``CropLeft``/``CropTop``/``CropRight``/
  ``CropBottom`` is present (Lightroom leaves them all out when there is no crop).
  Missing edges default to 0, 0, 1, 1 and a missing ``CropAngle`` to 0, as in Camera
  Raw. The crop is in the **stored** frame (``crop_frame="stored"``). A full-frame crop
  is reported as it is; the scan decides that it counts as uncropped.
- Crop checks: the values must be numbers, finite and in range (:class:`Crop`), and when
  the catalog knows the stored size (``fileWidth`` x ``fileHeight``) the turned crop
  must lie inside it, with a slack of 1% of the long side (the catalog's size may
  differ a little from a raw developer's). Otherwise the row is ``invalid-crop``.
- ``fields``: ``--field crs:NAME`` reads the Lua key ``NAME`` and is recorded under the
  name as given (``"crs:Exposure2012"``). Values are written as XMP would show them
  where that is unambiguous: ``true``/``false`` -> ``"True"``/``"False"``, integers and
  integral floats -> ``"25"``, other floats -> the shortest repr (``0.35`` -> ``"0.35"``;
  no ``+`` sign is added, unlike some Camera Raw XMP), strings as they are, tables as
  compact JSON. Names in other namespaces are never present in a catalog.
- A row that cannot be used becomes a :class:`SkippedRow`, never an exception that stops
  the iteration: ``bad-metadata`` for a develop text that cannot be decoded or parsed, a
  non-boolean ``HasCrop`` or a row with no file record; ``invalid-crop`` as above;
  ``unsupported`` for videos (``fileFormat`` ``VIDEO``).
"""

from __future__ import annotations

import json
import logging
import math
import os
import sqlite3
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cropperhead.errors import one_line
from cropperhead.geometry import Crop, crop_is_inside
from cropperhead.metadata import lua
from cropperhead.metadata.types import (
    BAD_METADATA,
    INVALID_CROP,
    ORIGIN_LRCAT,
    REASONS,
    UNSUPPORTED,
    DevelopSettings,
    SkipError,
)

__all__ = [
    "CROP_KEYS",
    "LIGHTROOM_ORIENTATIONS",
    "CatalogError",
    "SkippedRow",
    "catalog_photo_path",
    "decode_catalog_text",
    "iter_catalog",
    "open_catalog",
    "orientation_from_code",
]

logger = logging.getLogger(__name__)

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

#: Lua keys of the crop edges, in Crop's order, and of the angle.
CROP_KEYS = ("CropLeft", "CropTop", "CropRight", "CropBottom")
_ANGLE_KEY = "CropAngle"
_CROP_DEFAULTS = (0.0, 0.0, 1.0, 1.0)

#: Seconds SQLite waits on a busy catalog before the reader falls back to a snapshot.
BUSY_TIMEOUT_S = 1.0
#: Rows read per short query.
_BATCH_ROWS = 256
#: Largest compressed text inflated, in bytes.
MAX_TEXT_BYTES = 64 * 1024 * 1024
#: Slack of the inside check, as a fraction of the stored frame's long side.
_INSIDE_SLACK = 0.01

_SQLITE_MAGIC = b"SQLite format 3\x00"

#: Tables and columns iter_catalog reads.
_REQUIRED_COLUMNS = {
    "Adobe_images": (
        "id_local",
        "rootFile",
        "orientation",
        "fileWidth",
        "fileHeight",
        "fileFormat",
        "masterImage",
        "copyName",
    ),
    "AgLibraryFile": ("id_local", "baseName", "extension", "folder"),
    "AgLibraryFolder": ("id_local", "pathFromRoot", "rootFolder"),
    "AgLibraryRootFolder": ("id_local", "absolutePath"),
    "Adobe_imageDevelopSettings": ("id_local", "image", "text", "croppedWidth"),
}

#: Columns read when the catalog has them (older or odd catalogs may not).
_OPTIONAL_COLUMNS = {"AgLibraryRootFolder": ("relativePathFromCatalog",)}

_ROWS_QUERY = """
SELECT i.id_local, i.masterImage, i.copyName, i.orientation, i.fileWidth, i.fileHeight,
       i.fileFormat, f.id_local, f.baseName, f.extension, fo.pathFromRoot, r.absolutePath,
       d.id_local, typeof(d.text), d.text, d.croppedWidth, {relative}
FROM Adobe_images AS i
LEFT JOIN AgLibraryFile AS f ON f.id_local = i.rootFile
LEFT JOIN AgLibraryFolder AS fo ON fo.id_local = f.folder
LEFT JOIN AgLibraryRootFolder AS r ON r.id_local = fo.rootFolder
LEFT JOIN Adobe_imageDevelopSettings AS d ON d.id_local = (
    SELECT max(d2.id_local) FROM Adobe_imageDevelopSettings AS d2 WHERE d2.image = i.id_local
)
WHERE i.id_local > ?
ORDER BY i.id_local
LIMIT ?
"""


def _rows_query(has_relative_path: bool) -> str:
    return _ROWS_QUERY.format(relative="r.relativePathFromCatalog" if has_relative_path else "NULL")


class CatalogError(ValueError):
    """The file is not a Lightroom catalog that can be read (one-line message)."""


@dataclass(frozen=True)
class SkippedRow:
    """A catalog row that cannot become a sample, with a skipped.jsonl reason code.

    Attributes:
        source: the photo's path when the row names one, else ``"{catalog}#{id_local}"``.
        reason: one of :data:`cropperhead.metadata.types.REASONS`.
        detail: one human-readable line (the image id and what was wrong).
        sample_key: the row's ``sample_key`` (as :class:`DevelopSettings` would carry).
    """

    source: str
    reason: str
    detail: str
    sample_key: str | None = None

    def __post_init__(self) -> None:
        if self.reason not in REASONS:
            raise ValueError(f"unknown skip reason {self.reason!r}")

    def to_record(self) -> dict[str, str]:
        """The skipped.jsonl record: ``{"source", "reason", "detail"}``."""
        return {"source": self.source, "reason": self.reason, "detail": self.detail}


# -- small pure helpers ---------------------------------------------------------------


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
    """The photo's path through ``relativePathFromCatalog`` (see ``catalog_relative_photo``).

    The relative root folder is joined to the catalog's folder, then the photo's path
    below its root folder (``pathFromRoot`` + file name, taken from ``photo``) follows.
    ``..`` parts are folded without resolving links. None when there is no relative path
    or it is absolute (Lightroom writes ``../../D:/...`` for another drive on Windows;
    such a path simply does not exist here).
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
    """A develop setting as XMP would write it (see the module docstring)."""
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


# -- opening ---------------------------------------------------------------------------


def _read_header(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            header = handle.read(100)
    except FileNotFoundError as exc:
        raise CatalogError(f"catalog not found: {str(path)!r}") from exc
    except IsADirectoryError as exc:
        raise CatalogError(f"catalog is a folder, not a file: {str(path)!r}") from exc
    except OSError as exc:
        raise CatalogError(f"cannot read catalog {str(path)!r}: {exc.strerror or exc}") from exc
    if len(header) < 100 or not header.startswith(_SQLITE_MAGIC):
        raise CatalogError(f"not a Lightroom catalog (not an SQLite database): {str(path)!r}")
    return header


def _wal_is_empty(path: Path) -> bool:
    """True when no ``-wal`` file lies beside the catalog, or an empty one (nothing pending)."""
    try:
        return Path(str(path) + "-wal").stat().st_size == 0
    except FileNotFoundError:
        return True
    except OSError:
        return False


def _connect(path: Path, *, immutable: bool, timeout_s: float) -> sqlite3.Connection:
    uri = path.absolute().as_uri() + "?mode=ro" + ("&immutable=1" if immutable else "")
    conn = sqlite3.connect(uri, uri=True, timeout=timeout_s, isolation_level=None)
    return conn


def _is_locked(exc: sqlite3.Error) -> bool:
    message = str(exc).lower()
    return "locked" in message or "busy" in message


def _check_is_catalog(conn: sqlite3.Connection, path: Path) -> None:
    conn.execute("PRAGMA query_only = 1")
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'Adobe_images'"
    ).fetchone()
    if row is None:
        raise CatalogError(f"not a Lightroom catalog (no Adobe_images table): {str(path)!r}")


def _open(path: Path, timeout_s: float) -> tuple[sqlite3.Connection, bool]:
    """Open ``path`` read-only; return the connection and whether it is ``immutable``."""
    header = _read_header(path)
    wal_mode = header[18] == 2 or header[19] == 2
    immutable = wal_mode and _wal_is_empty(path)
    if immutable:
        logger.debug("catalog %s is in WAL mode with nothing in a -wal file: immutable", path)
    conn = _connect(path, immutable=immutable, timeout_s=timeout_s)
    try:
        try:
            _check_is_catalog(conn, path)
        except sqlite3.OperationalError as exc:
            if immutable or not _is_locked(exc):
                raise
            conn.close()
            logger.warning(
                "catalog %s is locked (is Lightroom open?); reading it as it lies on disk, "
                "without locks: edits Lightroom has not saved yet are missed",
                path,
            )
            immutable = True
            conn = _connect(path, immutable=True, timeout_s=timeout_s)
            _check_is_catalog(conn, path)
    except CatalogError:
        conn.close()
        raise
    except sqlite3.Error as exc:
        conn.close()
        raise CatalogError(
            f"not a readable Lightroom catalog: {str(path)!r}: {one_line(str(exc))}"
        ) from exc
    return conn, immutable


def open_catalog(path: Path, *, timeout_s: float = BUSY_TIMEOUT_S) -> sqlite3.Connection:
    """Open a Lightroom catalog read-only, never locking or changing it.

    See the module docstring for how: ``mode=ro``, ``immutable=1`` for a WAL catalog
    with no ``-wal`` file, and a logged fallback to ``immutable=1`` when Lightroom holds
    the catalog locked.

    Args:
        path: the ``.lrcat`` file.
        timeout_s: how long to wait on a busy catalog before the fallback.

    Returns:
        A read-only connection (``query_only`` on). The caller closes it.

    Raises:
        CatalogError: the file is missing, unreadable, not an SQLite database or not a
            Lightroom catalog (no ``Adobe_images`` table).
    """
    conn, _ = _open(Path(path), timeout_s)
    return conn


def _check_schema(conn: sqlite3.Connection, path: Path) -> set[str]:
    """Raise CatalogError unless the needed columns exist; return the optional ones present.

    Returns:
        ``"TABLE.COLUMN"`` names of :data:`_OPTIONAL_COLUMNS` that the catalog has.
    """
    optional: set[str] = set()
    for table, columns in _REQUIRED_COLUMNS.items():
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if not present:
            raise CatalogError(f"Lightroom catalog lacks the {table} table: {str(path)!r}")
        missing = [c for c in columns if c not in present]
        if missing:
            raise CatalogError(
                f"Lightroom catalog table {table} lacks {', '.join(missing)}: {str(path)!r}"
            )
        optional.update(f"{table}.{c}" for c in _OPTIONAL_COLUMNS.get(table, ()) if c in present)
    return optional


# -- rows ------------------------------------------------------------------------------


def _develop_settings_table(kind: str | None, value: Any) -> dict[Any, Any]:
    """Parse the develop text column; raise SkipError(BAD_METADATA) when it cannot be."""
    try:
        if kind == "text":
            text = value.decode("utf-8") if isinstance(value, bytes) else str(value)
        elif kind == "blob":
            text = decode_catalog_text(value)
        else:
            raise ValueError(f"develop settings are a {kind} value, not text: {value!r}")
        table = lua.loads(text or "")
    except (ValueError, TypeError) as exc:
        raise SkipError(BAD_METADATA, f"develop settings: {one_line(str(exc))}") from exc
    if not isinstance(table, dict):
        raise SkipError(BAD_METADATA, "develop settings are not a keyed Lua table")
    return table


def _crop_from_settings(
    settings: dict[Any, Any], cropped_width: Any, width_px: float | None, height_px: float | None
) -> Crop | None:
    """The live crop of a develop table (stored frame), or None; see the crop rule."""
    has_crop = settings.get("HasCrop")
    if isinstance(has_crop, str) and has_crop.strip().lower() in ("true", "false"):
        has_crop = has_crop.strip().lower() == "true"
    if has_crop is not None and not isinstance(has_crop, bool):
        raise SkipError(BAD_METADATA, f"HasCrop is {has_crop!r}, not a boolean")
    present = [key for key in (*CROP_KEYS, _ANGLE_KEY) if key in settings]
    if isinstance(cropped_width, bytes):
        cropped_width = cropped_width.decode("utf-8", "replace")
    if isinstance(cropped_width, str) and cropped_width.strip().lower() == "uncropped":
        if has_crop and present:
            logger.debug("croppedWidth says uncropped although Crop* keys are present")
        return None
    if has_crop is False or not any(key in settings for key in CROP_KEYS):
        return None
    values = []
    for key, default in zip((*CROP_KEYS, _ANGLE_KEY), (*_CROP_DEFAULTS, 0.0), strict=True):
        value = settings.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SkipError(INVALID_CROP, f"{key} is {value!r}, not a number")
        values.append(value)
    try:
        crop = Crop(*values)
    except (ValueError, TypeError) as exc:
        raise SkipError(INVALID_CROP, one_line(str(exc))) from exc
    if width_px and height_px:
        slack = max(0.5, _INSIDE_SLACK * max(width_px, height_px))
        if not crop_is_inside(crop, width_px, height_px, tol_px=slack):
            raise SkipError(
                INVALID_CROP,
                f"crop {crop.to_dict()} is not a rectangle inside the "
                f"{width_px:g} x {height_px:g} stored frame",
            )
    return crop


def _row_item(
    catalog: Path, row: tuple[Any, ...], fields: dict[str, str]
) -> DevelopSettings | SkippedRow:
    (
        image_id,
        master_image,
        copy_name,
        orientation_code,
        file_width,
        file_height,
        file_format,
        file_id,
        base_name,
        extension,
        path_from_root,
        absolute_path,
        develop_id,
        text_kind,
        text_value,
        cropped_width,
        relative_path,
    ) = row
    sample_key = f"lrcat:{catalog}:{image_id}"
    fallback_source = f"{catalog}#{image_id}"
    label = f"catalog image {image_id}"

    def skipped(source: str, reason: str, detail: str) -> SkippedRow:
        return SkippedRow(source, reason, one_line(f"{label}: {detail}"), sample_key)

    if file_id is None:
        return skipped(fallback_source, BAD_METADATA, "no AgLibraryFile row for its rootFile")
    try:
        photo = catalog_photo_path(
            _as_str(absolute_path) or "",
            _as_str(path_from_root),
            _as_str(base_name) or "",
            _as_str(extension),
        )
    except ValueError as exc:
        return skipped(fallback_source, BAD_METADATA, f"cannot build its file path: {exc}")
    source = str(photo)
    moved = _catalog_relative_photo(catalog, _as_str(relative_path), photo, absolute_path)
    copy = _as_str(copy_name) or None
    if master_image is not None:
        label += f" (virtual copy {copy!r})" if copy else " (virtual copy)"
        copy = copy or f"copy {image_id}"
    if (_as_str(file_format) or "").upper() == "VIDEO":
        return skipped(source, UNSUPPORTED, "a video, not a photo")

    crop: Crop | None = None
    values: dict[str, str] = {}
    if develop_id is not None:
        try:
            settings = _develop_settings_table(_as_str(text_kind), text_value)
            crop = _crop_from_settings(
                settings, cropped_width, _as_size(file_width), _as_size(file_height)
            )
        except SkipError as exc:
            return skipped(source, exc.reason, exc.detail)
        for name, key in fields.items():
            if key in settings:
                values[name] = _field_value(settings[key])
    return DevelopSettings(
        origin=ORIGIN_LRCAT,
        has_settings=develop_id is not None,
        has_crop=crop is not None,
        crop=crop,
        crop_frame="stored",
        already_applied=False,
        orientation=orientation_from_code(_as_str(orientation_code)),
        fields=values,
        source=catalog,
        photo=photo,
        catalog_relative_photo=moved,
        copy_name=copy,
        sample_key=sample_key,
    )


class _RowReader:
    """Reads Adobe_images in id order, a batch per short query, reopening if locked."""

    def __init__(self, path: Path, conn: sqlite3.Connection, immutable: bool, query: str) -> None:
        self.path = path
        self.conn = conn
        self.immutable = immutable
        self.query = query
        conn.text_factory = bytes

    def fetch(self, after_id: int) -> list[tuple[Any, ...]]:
        try:
            return self.conn.execute(self.query, (after_id, _BATCH_ROWS)).fetchall()
        except sqlite3.OperationalError as exc:
            if self.immutable or not _is_locked(exc):
                raise CatalogError(
                    f"cannot read catalog {str(self.path)!r}: {one_line(str(exc))}"
                ) from exc
            logger.warning(
                "catalog %s became locked while reading (is Lightroom open?); going on with "
                "the file as it lies on disk, without locks",
                self.path,
            )
        except sqlite3.Error as exc:
            raise CatalogError(
                f"cannot read catalog {str(self.path)!r}: {one_line(str(exc))}"
            ) from exc
        self.conn.close()
        self.conn = _connect(self.path, immutable=True, timeout_s=BUSY_TIMEOUT_S)
        self.conn.text_factory = bytes
        self.immutable = True
        try:
            return self.conn.execute(self.query, (after_id, _BATCH_ROWS)).fetchall()
        except sqlite3.Error as exc:
            raise CatalogError(
                f"cannot read catalog {str(self.path)!r}: {one_line(str(exc))}"
            ) from exc

    def rows(self) -> Iterator[tuple[Any, ...]]:
        after_id = -(2**63)
        while True:
            batch = self.fetch(after_id)
            if not batch:
                return
            yield from batch
            after_id = batch[-1][0]


def _iter_items(
    catalog: Path, reader: _RowReader, fields: dict[str, str]
) -> Iterator[DevelopSettings | SkippedRow]:
    try:
        for row in reader.rows():
            try:
                yield _row_item(catalog, row, fields)
            except Exception as exc:  # one odd row never stops the iteration
                logger.debug("catalog %s row %r failed", catalog, row[0], exc_info=True)
                yield SkippedRow(
                    f"{catalog}#{row[0]}",
                    BAD_METADATA,
                    one_line(f"catalog image {row[0]}: {type(exc).__name__}: {exc}"),
                    f"lrcat:{catalog}:{row[0]}",
                )
    finally:
        reader.conn.close()


def iter_catalog(path: Path, fields: Sequence[str] = ()) -> Iterator[DevelopSettings | SkippedRow]:
    """One :class:`DevelopSettings` or :class:`SkippedRow` per ``Adobe_images`` row.

    The catalog is opened and checked when this is called (so a bad catalog raises at
    once); rows are then read lazily, in ``id_local`` order, in short batches. The rules
    (paths, orientation, the crop rule, fields, skipped rows) are in the module
    docstring. The connection closes when the iterator is exhausted or closed.

    Args:
        path: the ``.lrcat`` file.
        fields: ``--field`` names such as ``"crs:Exposure2012"``; ``crs:NAME`` reads
            the develop setting ``NAME``.

    Returns:
        An iterator of items; crops are in the stored frame.

    Raises:
        CatalogError: the file is not a readable Lightroom catalog, or it lacks a table
            or column the reader needs (also raised mid-way if the catalog becomes
            unreadable, e.g. it is deleted or corrupted while being read).
        ValueError: a field name that is not ``PREFIX:NAME``.
    """
    keys = _field_keys(fields)
    catalog = Path(path).absolute()
    conn, immutable = _open(catalog, BUSY_TIMEOUT_S)
    try:
        optional = _check_schema(conn, catalog)
    except BaseException:
        conn.close()
        raise
    query = _rows_query("AgLibraryRootFolder.relativePathFromCatalog" in optional)
    return _iter_items(catalog, _RowReader(catalog, conn, immutable, query), keys)
