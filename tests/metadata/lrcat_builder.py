"""Build small Lightroom Classic catalogs for tests, in the real schema.

The tables, columns and indexes the reader touches are those of the two real catalogs
in ../shared/fixtures/lrcat (Lightroom Classic, Adobe_DBVersion 1100000, and
Lightroom 5, 0500006), with Lightroom's habits: one ``id_local`` counter shared by all
tables, a root folder ending in ``/``, ``pathFromRoot`` ``""`` or ``"sub/dir/"``,
``croppedWidth`` ``'uncropped'`` when there is no crop, an
``Adobe_AdditionalMetadata`` row (cached XMP) per image.

Usage::

    from tests.metadata.lrcat_builder import CatalogBuilder, KNOWN_CR2, develop_text

    with CatalogBuilder(tmp_path / "Lightroom Catalog.lrcat") as cat:
        master = cat.add_photo(
            str(tmp_path / "photos" / "IMG_0001.CR2"),
            width=KNOWN_CR2.width,
            height=KNOWN_CR2.height,
            develop=develop_text(crop=KNOWN_CR2.crop),
        )
        cat.add_virtual_copy(master, "Copy 1", develop=develop_text(crop=other_crop))
        cat.add_photo(str(tmp_path / "photos" / "IMG_0002.jpg"), orientation="BC")
        cat.add_photo(str(tmp_path / "gone" / "IMG_0003.jpg"), develop=None)
    # the catalog is committed and closed here; cat.path is the file

The builder writes **no photo files**: a row's file is missing unless the test writes
it at the path it gave (``add_photo`` returns the image's ``id_local``;
:meth:`CatalogBuilder.photo_path` gives the path back). Paths are kept as strings, so a
Windows catalog's ``C:/Users/...`` can be built on Linux.

``develop`` (``add_photo``, ``add_virtual_copy``):

- :data:`DEFAULT` (the default): uncropped develop settings like Lightroom's;
- a mapping: written with :func:`develop_text`'s layout (use :func:`develop_settings`);
- a ``str``: stored as TEXT as it is (any Lua, broken Lua included);
- ``bytes``: stored as a BLOB as they are (a corrupt compressed blob, say);
- ``None``: no ``Adobe_imageDevelopSettings`` row at all.

``compressed=True`` stores a ``str``/mapping develop text as Lightroom's compressed BLOB
(:func:`compress_text`).
"""

from __future__ import annotations

import re
import sqlite3
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from cropperhead.geometry import Crop, crop_output_size_px
from cropperhead.metadata import lua
from tests.metadata.lua_dumps import dumps

__all__ = [
    "DEFAULT",
    "KNOWN_CR2",
    "SAME",
    "CatalogBuilder",
    "KnownCrop",
    "compress_text",
    "develop_settings",
    "develop_text",
    "hold_exclusive_lock",
]


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: Use the builder's default (uncropped develop settings, automatic croppedWidth).
DEFAULT: Any = _Marker("DEFAULT")
#: A virtual copy keeps its master's value.
SAME: Any = _Marker("SAME")


@dataclass(frozen=True)
class KnownCrop:
    """A stored frame and a crop on it, with Lightroom's reported output size."""

    width: int
    height: int
    crop: Crop
    output_size: tuple[int, int]


#: lightroom-crop.md's known answer: a Canon CR2, 6720 x 4480, Lightroom said 6237 x 4158.
KNOWN_CR2 = KnownCrop(6720, 4480, Crop(0.020308, 0.073108, 0.979692, 0.926892, -3.01), (6237, 4158))

_BASE_SETTINGS: dict[str, Any] = {
    "AutoLateralCA": 0,
    "Blacks2012": 0,
    "CameraProfile": "Adobe Standard",
    "Contrast2012": 0,
    "ConvertToGrayscale": False,
    "Exposure2012": 0,
    "Highlights2012": 0,
    "LensProfileEnable": 0,
    "ProcessVersion": "11.0",
    "RedEyeInfo": {},
    "RetouchInfo": {},
    "Shadows2012": 0,
    "ToneCurveName2012": "Linear",
    "ToneCurvePV2012": [0, 0, 255, 255],
    "Version": "14.1",
    "WhiteBalance": "As Shot",
    "Whites2012": 0,
}

_CROP_KEY = re.compile(r"\bCrop(Left|Top|Right|Bottom)\b")


def develop_settings(
    crop: Crop | None = None, *, has_crop: bool | None = None, **settings: Any
) -> dict[str, Any]:
    """Develop settings as Lightroom keeps them, keys sorted.

    Args:
        crop: adds ``CropLeft/Top/Right/Bottom/Angle`` (stored frame) when given; an
            uncropped photo has none of these keys, as in a real catalog.
        has_crop: adds ``HasCrop`` with this value when given.
        **settings: more keys, or overrides (a value of ``None`` removes a key).

    Returns:
        The settings dict.
    """
    values = dict(_BASE_SETTINGS)
    if crop is not None:
        values.update(
            CropAngle=crop.angle,
            CropBottom=crop.bottom,
            CropConstrainToWarp=0,
            CropLeft=crop.left,
            CropRight=crop.right,
            CropTop=crop.top,
        )
    if has_crop is not None:
        values["HasCrop"] = has_crop
    values.update(settings)
    return {k: values[k] for k in sorted(values) if values[k] is not None}


def develop_text(crop: Crop | None = None, *, has_crop: bool | None = None, **settings: Any) -> str:
    """``Adobe_imageDevelopSettings.text`` for :func:`develop_settings`' arguments."""
    return "s = " + dumps(develop_settings(crop, has_crop=has_crop, **settings))


def compress_text(text: str | bytes) -> bytes:
    """Lightroom's compressed BLOB: 4-byte big-endian uncompressed length, then zlib."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    return len(data).to_bytes(4, "big") + zlib.compress(data)


_FILE_FORMATS = {
    "jpg": "JPG",
    "jpeg": "JPG",
    "dng": "DNG",
    "tif": "TIFF",
    "tiff": "TIFF",
    "psd": "PSD",
    "png": "PNG",
    "heic": "HEIC",
    "mp4": "VIDEO",
    "mov": "VIDEO",
    "avi": "VIDEO",
}

_TABLES = {
    "Adobe_variablesTable": """
        id_local INTEGER PRIMARY KEY, id_global UNIQUE NOT NULL, name, type,
        value NOT NULL DEFAULT ''""",
    "AgLibraryRootFolder": """
        id_local INTEGER PRIMARY KEY, id_global UNIQUE NOT NULL,
        absolutePath UNIQUE NOT NULL DEFAULT '', name NOT NULL DEFAULT '',
        relativePathFromCatalog""",
    "AgLibraryFolder": {
        "classic": """
            id_local INTEGER PRIMARY KEY, id_global UNIQUE NOT NULL, parentId INTEGER,
            pathFromRoot NOT NULL DEFAULT '', rootFolder INTEGER NOT NULL DEFAULT 0,
            visibility INTEGER""",
        "lr5": """
            id_local INTEGER PRIMARY KEY, id_global UNIQUE NOT NULL,
            pathFromRoot NOT NULL DEFAULT '', rootFolder INTEGER NOT NULL DEFAULT 0""",
    },
    "AgLibraryFile": """
        id_local INTEGER PRIMARY KEY, id_global UNIQUE NOT NULL, baseName NOT NULL DEFAULT '',
        errorMessage, errorTime, extension NOT NULL DEFAULT '', externalModTime,
        folder INTEGER NOT NULL DEFAULT 0, idx_filename NOT NULL DEFAULT '', importHash,
        lc_idx_filename NOT NULL DEFAULT '', lc_idx_filenameExtension NOT NULL DEFAULT '',
        md5, modTime, originalFilename NOT NULL DEFAULT '', sidecarExtensions""",
    "Adobe_images": """
        id_local INTEGER PRIMARY KEY, id_global UNIQUE NOT NULL,
        aspectRatioCache NOT NULL DEFAULT -1, bitDepth NOT NULL DEFAULT 0, captureTime,
        colorChannels NOT NULL DEFAULT 0, colorLabels NOT NULL DEFAULT '',
        colorMode NOT NULL DEFAULT -1, copyCreationTime NOT NULL DEFAULT -63113817600,
        copyName, copyReason, developSettingsIDCache, fileFormat NOT NULL DEFAULT 'unset',
        fileHeight, fileWidth, hasMissingSidecars INTEGER, masterImage INTEGER, orientation,
        originalCaptureTime, originalRootEntity INTEGER, panningDistanceH, panningDistanceV,
        pick NOT NULL DEFAULT 0, positionInFolder NOT NULL DEFAULT 'z', propertiesCache,
        pyramidIDCache, rating, rootFile INTEGER NOT NULL DEFAULT 0, sidecarStatus,
        touchCount NOT NULL DEFAULT 0, touchTime NOT NULL DEFAULT 0""",
    "Adobe_imageDevelopSettings": {
        "classic": """
            id_local INTEGER PRIMARY KEY, allowFastRender INTEGER, beforeSettingsIDCache,
            croppedHeight, croppedWidth, digest, fileHeight, fileWidth, grayscale INTEGER,
            hasBigData INTEGER NOT NULL DEFAULT 0, hasDevelopAdjustments INTEGER,
            hasDevelopAdjustmentsEx, historySettingsID, image INTEGER, processVersion,
            profileCorrections, removeChromaticAberration, settingsID, snapshotID, text,
            validatedForVersion, whiteBalance""",
        "lr5": """
            id_local INTEGER PRIMARY KEY, allowFastRender INTEGER, beforeSettingsIDCache,
            croppedHeight, croppedWidth, digest, fileHeight, fileWidth, grayscale INTEGER,
            hasDevelopAdjustments INTEGER, hasDevelopAdjustmentsEx, historySettingsID,
            image INTEGER, processVersion, settingsID, snapshotID, text, validatedForVersion,
            whiteBalance""",
    },
    "Adobe_AdditionalMetadata": """
        id_local INTEGER PRIMARY KEY, id_global UNIQUE NOT NULL,
        additionalInfoSet INTEGER NOT NULL DEFAULT 0, embeddedXmp INTEGER NOT NULL DEFAULT 0,
        externalXmpIsDirty INTEGER NOT NULL DEFAULT 0, image INTEGER,
        incrementalWhiteBalance INTEGER NOT NULL DEFAULT 0, internalXmpDigest,
        isRawFile INTEGER NOT NULL DEFAULT 0, lastSynchronizedHash,
        lastSynchronizedTimestamp NOT NULL DEFAULT -63113817600, metadataPresetID,
        metadataVersion, monochrome INTEGER NOT NULL DEFAULT 0, xmp NOT NULL DEFAULT ''""",
}

_INDEXES = (
    "CREATE INDEX index_Adobe_AdditionalMetadata_imageAndStatus"
    " ON Adobe_AdditionalMetadata( image, externalXmpIsDirty )",
    "CREATE INDEX index_Adobe_images_rootFile ON Adobe_images( rootFile )",
    "CREATE INDEX index_Adobe_images_masterImage ON Adobe_images( masterImage )",
    "CREATE INDEX index_Adobe_images_captureTime ON Adobe_images( captureTime )",
    "CREATE UNIQUE INDEX index_AgLibraryFolder_rootFolderAndPath"
    " ON AgLibraryFolder( rootFolder, pathFromRoot )",
    "CREATE UNIQUE INDEX index_AgLibraryFile_nameAndFolder"
    " ON AgLibraryFile( lc_idx_filename, folder )",
    "CREATE INDEX index_AgLibraryFile_folder ON AgLibraryFile( folder )",
    "CREATE INDEX index_Adobe_imageDevelopSettings_image ON Adobe_imageDevelopSettings( image )",
)

_DB_VERSIONS = {"classic": "1100000", "lr5": "0500006"}


def _split_path(path: str, root: str | None) -> tuple[str, str, str, str]:
    """``(absolutePath, pathFromRoot, baseName, extension)`` of a photo path string."""
    folder, _, name = path.rpartition("/")
    if not name or not folder and not path.startswith("/"):
        raise ValueError(f"photo path must be absolute with a file name: {path!r}")
    folder += "/"
    if root is None:
        root, sub = folder, ""
    else:
        root = root if root.endswith("/") else root + "/"
        if not folder.startswith(root):
            raise ValueError(f"photo {path!r} is not under the root folder {root!r}")
        sub = folder[len(root) :]
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem:
        stem, extension = name, ""
    return root, sub, stem, extension


class CatalogBuilder:
    """Writes a small catalog with sqlite3; use as a context manager (or call close()).

    Args:
        path: the ``.lrcat`` file to create (it must not exist).
        schema: ``"classic"`` (Lightroom Classic 11+, like the LITA fixture) or ``"lr5"``.
        journal_mode: ``"delete"`` (rollback journal, like the LR5 fixture) or ``"wal"``
            (like Lightroom Classic's catalogs).
        compress_xmp: store ``Adobe_AdditionalMetadata.xmp`` compressed (as Lightroom
            Classic does); default: True for ``"classic"``, False for ``"lr5"``.
    """

    def __init__(
        self,
        path: Path,
        *,
        schema: str = "classic",
        journal_mode: str = "delete",
        compress_xmp: bool | None = None,
    ) -> None:
        if schema not in _DB_VERSIONS:
            raise ValueError(f"schema must be 'classic' or 'lr5', got {schema!r}")
        if journal_mode not in ("delete", "wal"):
            raise ValueError(f"journal_mode must be 'delete' or 'wal', got {journal_mode!r}")
        self.path = Path(path)
        if self.path.exists():
            raise ValueError(f"catalog already exists: {self.path}")
        self.schema = schema
        self.compress_xmp = schema == "classic" if compress_xmp is None else compress_xmp
        self._next_id = 100
        self._roots: dict[str, int] = {}
        self._folders: dict[tuple[int, str], int] = {}
        self._photos: dict[int, str] = {}
        self._conn = sqlite3.connect(self.path)
        self._conn.execute("PRAGMA synchronous = OFF")  # test files: no need to fsync
        self._conn.execute(f"PRAGMA journal_mode = {journal_mode}")
        for table, columns in _TABLES.items():
            if isinstance(columns, dict):
                columns = columns[schema]
            self._conn.execute(f"CREATE TABLE {table} ({columns})")
        for statement in _INDEXES:
            self._conn.execute(statement)
        self._insert("Adobe_variablesTable", name="Adobe_DBVersion", value=_DB_VERSIONS[schema])

    # -- plumbing ----------------------------------------------------------------------

    def _new_id(self) -> tuple[int, str]:
        self._next_id += 1
        n = self._next_id
        return n, f"{n:08X}-0000-4000-8000-{n:012X}"

    def _insert(self, table: str, **values: Any) -> int:
        id_local, id_global = self._new_id()
        values = {"id_local": id_local, **values}
        if table != "Adobe_imageDevelopSettings":
            values["id_global"] = id_global
        columns = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        self._conn.execute(
            f"INSERT INTO {table} ({columns}) VALUES ({marks})", list(values.values())
        )
        return id_local

    def _folder(self, root: str, sub: str, relative_root: str | None = None) -> int:
        root_id = self._roots.get(root)
        if root_id is None:
            name = root.rstrip("/").rpartition("/")[2]
            root_id = self._insert(
                "AgLibraryRootFolder",
                absolutePath=root,
                name=name,
                relativePathFromCatalog=relative_root,
            )
            self._roots[root] = root_id
        key = (root_id, sub)
        folder_id = self._folders.get(key)
        if folder_id is None:
            extra = {"parentId": None, "visibility": None} if self.schema == "classic" else {}
            folder_id = self._insert(
                "AgLibraryFolder", pathFromRoot=sub, rootFolder=root_id, **extra
            )
            self._folders[key] = folder_id
        return folder_id

    def _develop_row(
        self,
        image_id: int,
        develop: Any,
        compressed: bool,
        cropped_width: Any,
        size: tuple[float, float],
    ) -> None:
        if develop is None:
            return
        crop_output = None
        if develop is DEFAULT:
            develop = develop_settings()
        settings: Any = develop
        if isinstance(develop, str) and _CROP_KEY.search(develop):
            try:  # only to fill croppedWidth/Height in like Lightroom
                settings = lua.loads(develop)
            except ValueError:
                settings = None
            crop_output = size
        if isinstance(settings, Mapping):
            if any(k in settings for k in ("CropLeft", "CropTop", "CropRight", "CropBottom")):
                try:
                    crop = Crop(
                        settings.get("CropLeft", 0.0),
                        settings.get("CropTop", 0.0),
                        settings.get("CropRight", 1.0),
                        settings.get("CropBottom", 1.0),
                        settings.get("CropAngle", 0.0),
                    )
                    crop_output = crop_output_size_px(crop, *size)
                    if min(crop_output) <= 0:
                        crop_output = size
                except (TypeError, ValueError):  # a deliberately broken crop
                    crop_output = size
        if isinstance(develop, Mapping):
            develop = "s = " + dumps(dict(develop))
        if compressed:
            if not isinstance(develop, str):
                raise ValueError("compressed=True needs develop text, not raw bytes")
            develop = compress_text(develop)
        cropped_height: Any = None
        if cropped_width is DEFAULT:
            if crop_output is None:
                cropped_width = "uncropped"
            else:
                cropped_width, cropped_height = (float(round(v)) for v in crop_output)
        self._insert(
            "Adobe_imageDevelopSettings",
            image=image_id,
            text=develop,
            croppedWidth=cropped_width,
            croppedHeight=cropped_height,
            fileWidth=None,
            fileHeight=None,
            processVersion="11.0",
            settingsID=f"{image_id:08X}-SETTINGS",
        )

    def _xmp_row(self, image_id: int, xmp: str | bytes | None) -> None:
        value: Any = xmp if xmp is not None else ""
        if isinstance(value, str) and value and self.compress_xmp:
            value = compress_text(value)
        self._insert("Adobe_AdditionalMetadata", image=image_id, xmp=value)

    # -- public API --------------------------------------------------------------------

    def add_photo(
        self,
        path: str | PurePath,
        *,
        width: float | None = 6000,
        height: float | None = 4000,
        orientation: str | None = "AB",
        develop: Any = DEFAULT,
        compressed: bool = False,
        cropped_width: Any = DEFAULT,
        xmp: str | bytes | None = None,
        root: str | None = None,
        relative_root: str | None = None,
        file_format: str | None = None,
    ) -> int:
        """Add a photo (a file row and a master image row); return its image ``id_local``.

        Args:
            path: the photo's absolute path, ``/`` separated (``"C:/Users/..."`` works).
            width: ``Adobe_images.fileWidth`` (stored frame), or None.
            height: ``Adobe_images.fileHeight`` (stored frame), or None.
            orientation: Lightroom's code (``"AB"``, ``"BC"``, ...), any string, or None.
            develop: see the module docstring (DEFAULT, mapping, str, bytes or None).
            compressed: store the develop text as a compressed BLOB.
            cropped_width: ``croppedWidth``; DEFAULT is ``'uncropped'`` without Crop keys,
                else the crop's output width (and croppedHeight its height).
            xmp: ``Adobe_AdditionalMetadata.xmp`` (Lightroom's cached XMP, which may be
                stale); compressed for the classic schema unless bytes are given.
            root: the root folder (``AgLibraryRootFolder.absolutePath``); default the
                photo's own folder. Subfolders below it go to ``pathFromRoot``.
            relative_root: ``relativePathFromCatalog`` of the root folder when this photo
                creates it (``"../Pictures/"``: relative to the catalog's folder).
            file_format: ``fileFormat``; default from the extension (``JPG``, ``RAW``, ...).
        """
        text = str(path).replace("\\", "/") if isinstance(path, PurePath) else path
        root_path, sub, stem, extension = _split_path(text, root)
        folder_id = self._folder(root_path, sub, relative_root)
        name = f"{stem}.{extension}" if extension else stem
        file_id = self._insert(
            "AgLibraryFile",
            baseName=stem,
            extension=extension,
            folder=folder_id,
            idx_filename=name,
            lc_idx_filename=name.lower(),
            lc_idx_filenameExtension=extension.lower(),
            originalFilename=name,
            sidecarExtensions="",
        )
        fmt = file_format or _FILE_FORMATS.get(extension.lower(), "RAW")
        image_id = self._insert(
            "Adobe_images",
            rootFile=file_id,
            fileFormat=fmt,
            fileWidth=None if width is None else float(width),
            fileHeight=None if height is None else float(height),
            orientation=orientation,
            captureTime="2024-01-01T12:00:00",
        )
        self._photos[image_id] = text
        self._develop_row(image_id, develop, compressed, cropped_width, (width or 1, height or 1))
        self._xmp_row(image_id, xmp)
        return image_id

    def add_virtual_copy(
        self,
        master_id: int,
        copy_name: str | None = "Copy 1",
        *,
        develop: Any = DEFAULT,
        compressed: bool = False,
        cropped_width: Any = DEFAULT,
        orientation: Any = SAME,
    ) -> int:
        """Add a virtual copy of ``master_id`` (same file, own develop settings).

        Args:
            master_id: the master's image ``id_local`` (from :meth:`add_photo`).
            copy_name: ``copyName`` (Lightroom's default is ``"Copy 1"``); None for none.
            develop: as for :meth:`add_photo`.
            compressed: as for :meth:`add_photo`.
            cropped_width: as for :meth:`add_photo`.
            orientation: the copy's own code; SAME keeps the master's.

        Returns:
            The copy's image ``id_local``.
        """
        master = self._conn.execute(
            "SELECT rootFile, fileFormat, fileWidth, fileHeight, orientation "
            "FROM Adobe_images WHERE id_local = ?",
            (master_id,),
        ).fetchone()
        if master is None:
            raise ValueError(f"no master image {master_id!r}")
        root_file, fmt, width, height, master_orientation = master
        image_id = self._insert(
            "Adobe_images",
            rootFile=root_file,
            fileFormat=fmt,
            fileWidth=width,
            fileHeight=height,
            orientation=master_orientation if orientation is SAME else orientation,
            masterImage=master_id,
            copyName=copy_name,
            captureTime="2024-01-01T12:00:00",
        )
        self._photos[image_id] = self._photos[master_id]
        self._develop_row(image_id, develop, compressed, cropped_width, (width or 1, height or 1))
        self._xmp_row(image_id, None)
        return image_id

    def add_image_without_file(self, *, develop: Any = DEFAULT) -> int:
        """Add an image row whose ``rootFile`` names no ``AgLibraryFile`` row (a broken row)."""
        image_id = self._insert("Adobe_images", rootFile=999_999_999, fileFormat="JPG")
        self._develop_row(image_id, develop, False, DEFAULT, (1, 1))
        return image_id

    def execute(self, sql: str, parameters: Any = ()) -> sqlite3.Cursor:
        """Run raw SQL on the catalog being built (to break it in ways not listed here)."""
        return self._conn.execute(sql, parameters)

    def photo_path(self, image_id: int) -> str:
        """The path string given for an image (a virtual copy gives its master's)."""
        return self._photos[image_id]

    def close(self) -> Path:
        """Commit and close; return the catalog path. Safe to call twice."""
        if self._conn is not None:
            self._conn.commit()
            self._conn.close()
            self._conn = None  # type: ignore[assignment]
        return self.path

    def __enter__(self) -> CatalogBuilder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def hold_exclusive_lock(path: Path) -> Iterator[sqlite3.Connection]:
    """Hold a catalog the way a running Lightroom does: exclusive lock, open write.

    Opens a second connection with ``PRAGMA locking_mode=EXCLUSIVE``, commits one small
    change (so a WAL catalog has a non-empty ``-wal`` file, as while Lightroom runs), then
    starts a write transaction and changes a row without committing; readers then get
    "database is locked". On exit the open change is rolled back and the connection
    closed (the committed one stays).
    """
    conn = sqlite3.connect(path, isolation_level=None, timeout=0.1)
    try:
        conn.execute("PRAGMA locking_mode = EXCLUSIVE")
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        conn.execute(
            "INSERT INTO Adobe_variablesTable (id_global, name, value) "
            "VALUES ('LOCK-' || hex(randomblob(8)), 'TestLock', 'held')"
        )
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute(
            "UPDATE Adobe_variablesTable SET value = 'locked' WHERE name = 'Adobe_DBVersion'"
        )
        yield conn
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.close()
