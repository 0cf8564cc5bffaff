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

The work is split by concern; the names above are re-exported here, the public module
of catalogs:

- :mod:`cropperhead.metadata.lrcat_open`: opening the catalog without harm
  (:func:`open_catalog`, :class:`CatalogError`): ``mode=ro`` and ``query_only``,
  ``immutable=1`` for a WAL catalog with nothing pending, a logged fallback to
  ``immutable=1`` when Lightroom holds the catalog locked, and the schema check;
- :mod:`cropperhead.metadata.lrcat_decode`: decoding column values (compressed text,
  photo paths, orientation codes, field values), pure functions;
- this module: reading the rows into items by the rules below.

Reading without harm: the fallback of :mod:`~cropperhead.metadata.lrcat_open` also
applies when the lock appears in the middle of :func:`iter_catalog`, which reads rows in
small batches, each its own short read, so it holds no lock between batches while its
caller works on the rows.

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

import logging
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cropperhead.errors import one_line
from cropperhead.geometry import Crop, crop_is_inside
from cropperhead.metadata import lrcat_open, lua
from cropperhead.metadata.lrcat_decode import (
    LIGHTROOM_ORIENTATIONS,
    _as_size,
    _as_str,
    _catalog_relative_photo,
    _field_keys,
    _field_value,
    catalog_photo_path,
    decode_catalog_text,
    orientation_from_code,
)
from cropperhead.metadata.lrcat_open import CatalogError, open_catalog
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

#: Lua keys of the crop edges, in Crop's order, and of the angle.
CROP_KEYS = ("CropLeft", "CropTop", "CropRight", "CropBottom")
_ANGLE_KEY = "CropAngle"
_CROP_DEFAULTS = (0.0, 0.0, 1.0, 1.0)

#: Rows read per short query.
_BATCH_ROWS = 256
#: Slack of the inside check, as a fraction of the stored frame's long side.
_INSIDE_SLACK = 0.01

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
            if self.immutable or not lrcat_open._is_locked(exc):
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
        self.conn = lrcat_open._connect(
            self.path, immutable=True, timeout_s=lrcat_open.BUSY_TIMEOUT_S
        )
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
    conn, immutable = lrcat_open._open(catalog, lrcat_open.BUSY_TIMEOUT_S)
    try:
        optional = lrcat_open._check_schema(conn, catalog)
    except BaseException:
        conn.close()
        raise
    query = _rows_query("AgLibraryRootFolder.relativePathFromCatalog" in optional)
    return _iter_items(catalog, _RowReader(catalog, conn, immutable, query), keys)
