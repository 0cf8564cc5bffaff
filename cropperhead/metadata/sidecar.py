"""XMP sidecar files: find them, read them, write a crop into one.

This is where the XMP modules meet the disk; the packets themselves are parsed by
:mod:`cropperhead.metadata.xmp_read` and edited by :mod:`cropperhead.metadata.xmp_edit`,
which take and return bytes. Every file access goes through :mod:`cropperhead.files`
(regular files only, atomic replace, backups).

Sidecars: :func:`sidecar_candidates` lists, in precedence order, ``IMG_1.xmp`` (what
Lightroom and Camera Raw write) and then ``IMG_1.CR2.xmp`` (darktable and others), each
with any capitalisation of the ``.xmp`` extension found on disk. When both exist the
Lightroom-style ``IMG_1.xmp`` wins: it is the one Lightroom reads and writes.

:func:`write_sidecar_crop` reads the sidecar, merges
(:func:`~cropperhead.metadata.xmp_edit.merge_crop_into_xmp`), and replaces the file atomically
(temporary file in the same folder, fsync, ``os.replace``), keeping the file's
permissions. Backups: before the first change the current sidecar is copied to
``NAME.xmp.bak``; later changes go to ``NAME.xmp.bak.1``, ``.bak.2``, ... (never
overwriting a backup), except that no new copy is made when the newest backup already
holds exactly the current bytes. Writing the same crop again changes nothing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from cropperhead import files
from cropperhead.geometry import Crop
from cropperhead.metadata.types import (
    BAD_METADATA,
    ORIGIN_SIDECAR,
    UNREADABLE,
    DevelopSettings,
    SkipError,
)
from cropperhead.metadata.xmp_edit import merge_crop_into_xmp
from cropperhead.metadata.xmp_read import (
    MAX_PACKET_BYTES,
    check_field_names,
    is_already_applied,
    read_xmp_settings,
)

# The public module's name, as before the split: log lines show it ("WARNING
# cropperhead.metadata.xmp: ...") and a user's logging configuration names it.
logger = logging.getLogger("cropperhead.metadata.xmp")

__all__ = [
    "default_sidecar_path",
    "read_capped",
    "read_sidecar",
    "sidecar_candidates",
    "write_sidecar_crop",
]


def read_capped(path: Path, limit: int = MAX_PACKET_BYTES) -> bytes:
    """A small file's bytes (a sidecar), refusing one over ``limit`` bytes.

    Only a regular file is read (:func:`cropperhead.files.read_regular`): a FIFO or a
    device named like a sidecar is refused at once, never waited on.

    Raises:
        SkipError: BAD_METADATA for a file over ``limit`` bytes.
        OSError: the file cannot be read, or is not a regular file
            (:class:`cropperhead.files.NotRegularFileError`).
    """
    try:
        return files.read_regular(path, limit)
    except ValueError as exc:
        raise SkipError(BAD_METADATA, f"{Path(path).name} is larger than {limit} bytes") from exc


def read_sidecar(path: Path, fields: Sequence[str] = ()) -> DevelopSettings:
    """Develop settings from an XMP sidecar file.

    Args:
        path: the sidecar.
        fields: extra ``PREFIX:Name`` properties to return.

    Returns:
        Settings with origin ``xmp-sidecar`` and ``source=path``.

    Raises:
        ValueError: a bad field name.
        SkipError: UNREADABLE (the file cannot be read), BAD_METADATA, INVALID_CROP.
    """
    names = check_field_names(fields)
    path = Path(path)
    try:
        data = read_capped(path)
    except OSError as exc:
        detail = f"cannot read sidecar {str(path)!r}: {exc.strerror or exc}"
        raise SkipError(UNREADABLE, detail) from exc
    return read_xmp_settings(data, ORIGIN_SIDECAR, names, source=path)


def sidecar_candidates(photo: Path) -> list[Path]:
    """The XMP sidecars of ``photo`` that exist, in precedence order.

    ``IMG_1.xmp`` (Lightroom, Camera Raw) comes before ``IMG_1.CR2.xmp`` (darktable and
    others); within each, ``.xmp`` comes before other capitalisations (``.XMP``).
    The base name must match exactly; only the ``.xmp`` extension's case may differ.

    Args:
        photo: the photo.

    Returns:
        Existing sidecar paths, best first; empty when there is none or the folder
        cannot be listed.
    """
    photo = Path(photo)
    try:
        names = {entry.name for entry in os.scandir(photo.parent or ".") if entry.is_file()}
    except OSError:
        return []
    found: list[Path] = []
    for base in (photo.stem, photo.name):
        matches = [
            name
            for name in names
            if len(name) == len(base) + 4
            and name.startswith(base)
            and name[len(base) :].lower() == ".xmp"
            and name != photo.name
        ]
        matches.sort(key=lambda name: (name[len(base) :] != ".xmp", name))
        found += [photo.with_name(name) for name in matches if photo.with_name(name) not in found]
    return found


def default_sidecar_path(photo: Path) -> Path:
    """Where a new sidecar for ``photo`` goes: ``IMG_1.xmp`` beside ``IMG_1.CR2``."""
    photo = Path(photo)
    return photo.with_suffix(".xmp") if photo.suffix else photo.with_name(photo.name + ".xmp")


def write_sidecar_crop(
    path: Path,
    crop: Crop,
    *,
    backup: bool = True,
    image_size: tuple[int, int] | None = None,
    orientation: int | None = None,
) -> Path | None:
    """Write ``crop`` into the XMP sidecar at ``path``, atomically.

    The existing sidecar (if any) is merged with :func:`merge_crop_into_xmp`, so all of
    its other content survives. A sidecar that is a symbolic link to an existing file is
    written through to that file (the link stays); a link to nothing is refused, never
    followed to create a file elsewhere. Deciding which links may be followed at all is
    the caller's (write-back keeps to the photo's folder).

    Args:
        path: the sidecar (``IMG_1.xmp``); created when missing.
        crop: the crop in the **stored** frame.
        backup: copy the current sidecar to a backup first (see the module docstring).
        image_size: the photo's stored ``(width, height)``, for tiff:ImageWidth/Length.
        orientation: the EXIF orientation the photo is shown with, for tiff:Orientation.

    Returns:
        The backup that holds the previous content, or None (no previous file, no
        backup asked for, or nothing to change).

    Raises:
        ValueError: the existing sidecar cannot be edited safely (it stays untouched),
            or ``path`` is a link to nothing.
        OSError: the file cannot be read or written, or is not a regular file.
    """
    path = Path(path)
    if path.is_symlink():
        target = path.resolve()
        if not target.is_file():
            raise ValueError(f"{path.name} is a link to nothing ({target}); not written through")
        path = target
    existing: bytes | None = None
    mode: int | None = None
    if os.path.lexists(path):
        mode = files.check_regular(path).st_mode & 0o7777
        try:
            existing = read_capped(path)
        except SkipError as exc:
            raise ValueError(f"existing sidecar cannot be edited: {exc.detail}") from exc
    # What an earlier, killed write-back of this sidecar left behind.
    files.remove_stale_temporaries(path.parent, {path.name})
    merged = merge_crop_into_xmp(existing, crop, image_size=image_size, orientation=orientation)
    if merged == existing:
        return None
    backup_path: Path | None = None
    if existing is not None:
        if is_already_applied(existing):
            logger.warning(
                "%s says crs:AlreadyApplied=True: Camera Raw will not apply the crop written", path
            )
        if backup:
            backup_path = files.write_backup(path, existing, mode)
    files.atomic_write(path, merged, file_mode=mode)
    return backup_path
