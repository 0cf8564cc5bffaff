"""Open a Lightroom Classic catalog (``*.lrcat``) read-only, never locking or changing it.

A catalog is an SQLite database. This module opens it and checks that it is a catalog
with the tables and columns :func:`cropperhead.metadata.lrcat.iter_catalog` reads;
:mod:`cropperhead.metadata.lrcat` reads the rows.

- :func:`open_catalog(path) <open_catalog>` -> ``sqlite3.Connection``: a read-only
  connection that never locks or changes the catalog.
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
  when the lock appears in the middle of :func:`~cropperhead.metadata.lrcat.iter_catalog`
  (which reconnects with ``_connect`` when ``_is_locked`` says so).
- :func:`~cropperhead.metadata.lrcat.iter_catalog` reads rows in small batches, each its
  own short read, so it holds no lock between batches while its caller works on the
  rows.

:func:`~cropperhead.metadata.lrcat.iter_catalog` opens with ``_open`` (the connection and
whether it is ``immutable``) and checks the tables and columns it reads with
``_check_schema``.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from cropperhead import files
from cropperhead.errors import one_line

__all__ = ["BUSY_TIMEOUT_S", "CatalogError", "open_catalog"]

#: The catalog reader's logger (the name the CLI prints), shared with the row reading.
logger = logging.getLogger("cropperhead.metadata.lrcat")

#: Seconds SQLite waits on a busy catalog before the reader falls back to a snapshot.
BUSY_TIMEOUT_S = 1.0

_SQLITE_MAGIC = b"SQLite format 3\x00"

#: Tables and columns iter_catalog reads (``lrcat._ROWS_QUERY``).
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


class CatalogError(ValueError):
    """The file is not a Lightroom catalog that can be read (one-line message)."""


# -- opening ---------------------------------------------------------------------------


def _read_header(path: Path) -> bytes:
    try:
        # Only a regular file: opening a FIFO named like a catalog would wait forever.
        with files.open_regular(path) as handle:
            header = handle.read(100)
    except FileNotFoundError as exc:
        raise CatalogError(f"catalog not found: {str(path)!r}") from exc
    except (IsADirectoryError, files.NotRegularFileError) as exc:
        kind = "a folder, not a file" if path.is_dir() else exc.strerror
        raise CatalogError(f"catalog is {kind}: {str(path)!r}") from exc
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
