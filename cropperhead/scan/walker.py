"""Find the photos and XMP sidecars of a scan's SOURCE arguments.

Folders are walked recursively. Hidden folders and files (names starting with ``.``)
are left out, symbolic links to folders are followed but a folder is never entered
twice (no symlink loops), and folders named in ``exclude`` (the scan's own output
folder) are not entered. A file counts as a photo by its extension
(:data:`cropperhead.imaging.PHOTO_EXTENSIONS`, case-insensitive); ``.xmp`` files are
sidecars, never photos; pictures in formats that are not read (JPEG 2000, PSD, ...) are
reported as unsupported; every other file is ignored.

A sidecar belongs to the photos beside it whose name it extends: ``IMG_1.xmp`` belongs
to ``IMG_1.CR2`` (and to ``IMG_1.JPG`` unless a RAW file of the same stem sits beside
it: Lightroom writes sidecars for RAW files only and keeps a JPEG's edits inside the
JPEG), ``IMG_1.CR2.xmp`` to ``IMG_1.CR2``. Names match case-insensitively. A sidecar
that belongs to no photo is an *orphan*.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

SIDECAR_SUFFIX = ".xmp"
#: Picture formats that are not read: found by a walk, they are reported as unsupported
#: (so that a user sees why they are missing) instead of being ignored like other files.
UNSUPPORTED_PICTURE_EXTENSIONS = frozenset(
    {".jp2", ".j2k", ".jpf", ".jpx", ".psd", ".psb", ".heic", ".heif", ".avif", ".jxl"}
)


def _photo_extensions() -> frozenset[str]:
    from cropperhead.imaging import PHOTO_EXTENSIONS

    return frozenset(e.lower() if e.startswith(".") else "." + e.lower() for e in PHOTO_EXTENSIONS)


def _raw_extensions() -> frozenset[str]:
    from cropperhead.imaging import RAW_EXTENSIONS

    return frozenset(e.lower() if e.startswith(".") else "." + e.lower() for e in RAW_EXTENSIONS)


def is_photo(path: Path) -> bool:
    """True when ``path``'s extension is a photo extension (case-insensitive)."""
    return path.suffix.lower() in _photo_extensions()


def is_sidecar(path: Path) -> bool:
    """True when ``path`` is an XMP file (``.xmp``, any case)."""
    return path.suffix.lower() == SIDECAR_SUFFIX


def absolute(path: Path) -> Path:
    """The absolute, symlink-resolved form of ``path`` (the scan's identity of a file)."""
    return Path(os.path.realpath(path))


@dataclass
class WalkResult:
    """What the SOURCE arguments hold.

    Attributes:
        photos: absolute photo paths, sorted, without duplicates.
        orphans: ``(sidecar, source argument)`` for sidecars that belong to no photo.
        unsupported: ``(file, source argument)`` for files given directly that are
            neither photos nor sidecars, and for pictures in formats that are not read
            (:data:`UNSUPPORTED_PICTURE_EXTENSIONS`, e.g. JPEG 2000) found by the walk.
        photo_inputs: for each photo, the SOURCE argument (absolute) it was found under.
        unreadable: ``(path, source argument, why)`` for folders that cannot be listed
            and files that cannot be looked at.
    """

    photos: list[Path] = field(default_factory=list)
    orphans: list[tuple[Path, Path]] = field(default_factory=list)
    unsupported: list[tuple[Path, Path]] = field(default_factory=list)
    photo_inputs: dict[Path, Path] = field(default_factory=dict)
    unreadable: list[tuple[Path, Path, str]] = field(default_factory=list)


def _iter_folder(
    root: Path,
    exclude: set[Path],
    seen: set[tuple[int, int]],
    unreadable: list[tuple[Path, str]] | None = None,
) -> Iterable[Path]:
    """Yield the absolute paths of the non-hidden files under ``root``, depth first, sorted.

    ``root`` is resolved once; files below it are joined to it, and only symbolic links
    are resolved again (cheaper than resolving every path). Folders and files that
    cannot be looked at are logged and added to ``unreadable`` with the reason.
    """
    if unreadable is None:
        unreadable = []
    try:
        st = root.stat()
    except OSError as exc:
        logger.warning("cannot read folder %s: %s", root, exc)
        unreadable.append((root, f"cannot read the folder: {exc.strerror or exc}"))
        return
    ident = (st.st_dev, st.st_ino)
    real = absolute(root)
    if ident in seen or real in exclude:
        return
    seen.add(ident)
    try:
        with os.scandir(real) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        logger.warning("cannot list folder %s: %s", root, exc)
        unreadable.append((root, f"cannot list the folder: {exc.strerror or exc}"))
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = real / entry.name
        try:
            if entry.is_dir(follow_symlinks=True):
                yield from _iter_folder(path, exclude, seen, unreadable)
            elif entry.is_file(follow_symlinks=True):
                yield absolute(path) if entry.is_symlink() else path
        except OSError as exc:
            logger.warning("cannot read %s: %s", path, exc)
            unreadable.append((path, f"cannot read: {exc.strerror or exc}"))


def sidecar_index(folder: Path, cache: dict[Path, dict[str, list[Path]]]) -> dict[str, list[Path]]:
    """Base name -> ``.xmp`` files of ``folder`` (``.xmp`` before ``.XMP``), cached per folder.

    The base is the name without its last four characters, the ``.xmp`` extension in any
    capitalisation: ``IMG_1`` for ``IMG_1.xmp``, ``IMG_1.CR2`` for ``IMG_1.CR2.XMP``.
    """
    found = cache.get(folder)
    if found is None:
        found = {}
        try:
            with os.scandir(folder) as it:
                names = [e.name for e in it if e.name.lower().endswith(SIDECAR_SUFFIX)]
        except OSError:
            names = []
        for name in sorted(names, key=lambda n: (n[-4:] != SIDECAR_SUFFIX, n)):
            path = folder / name
            if path.is_file():
                found.setdefault(name[:-4], []).append(path)
        cache[folder] = found
    return found


def find_sidecars(
    photo: Path,
    cache: dict[Path, dict[str, list[Path]]],
    photo_names: dict[Path, dict[str, list[str]]] | None = None,
) -> list[Path]:
    """The sidecars of ``photo`` that exist, in reading order.

    ``IMG_1.xmp`` comes first, then ``IMG_1.CR2.xmp``, as
    :func:`cropperhead.metadata.xmp.sidecar_candidates` orders them: the base name
    matches exactly, the ``.xmp`` extension in any case (``.xmp`` first). The stem
    sidecar is left out for a non-RAW photo when a RAW photo of the same stem lies
    beside it (it is the RAW's).

    Args:
        photo: absolute path of the photo.
        cache: per-folder cache for :func:`sidecar_index`.
        photo_names: per-folder cache of the photos' names (see :func:`photo_names`).

    Returns:
        Existing sidecar paths, best first.
    """
    index = sidecar_index(photo.parent, cache)
    if not index:
        return []
    result = []
    if photo.suffix and photo.stem in index:
        if photo.suffix.lower() in _raw_extensions() or not _raw_sibling(photo, photo_names):
            result += index[photo.stem]
    result += index.get(photo.name, [])
    return result


def _raw_sibling(photo: Path, cache: dict[Path, dict[str, list[str]]] | None) -> bool:
    """True when a RAW photo with ``photo``'s stem lies beside it."""
    if cache is None:
        cache = {}
    names = cache.get(photo.parent)
    if names is None:
        names = cache[photo.parent] = photo_names(photo.parent)
    raws = _raw_extensions()
    return any(
        Path(n).stem == photo.stem and Path(n).suffix.lower() in raws
        for n in names.get(photo.stem, [])
    )


def walk_sources(sources: Sequence[Path], exclude: Iterable[Path] = ()) -> WalkResult:
    """Collect the photos and orphan sidecars of the SOURCE arguments.

    Args:
        sources: folders (walked recursively) and files. A sidecar given directly stands
            for its photo(s) beside it.
        exclude: folders not to enter (the output folder).

    Returns:
        The photos, orphan sidecars and unsupported files found.

    Raises:
        FileNotFoundError: a source does not exist.
    """
    excluded = {absolute(p) for p in exclude}
    seen: set[tuple[int, int]] = set()
    result = WalkResult()
    sidecars: list[tuple[Path, Path]] = []
    for source in sources:
        if not source.exists():
            raise FileNotFoundError(f"no such file or folder: {source}")
        root = absolute(source)
        walked = source.is_dir()
        problems: list[tuple[Path, str]] = []
        # Absolute, symlink-resolved paths either way.
        found = _iter_folder(source, excluded, seen, problems) if walked else [absolute(source)]
        for path in found:
            if is_sidecar(path):
                sidecars.append((path, root))
            elif is_photo(path):
                result.photo_inputs.setdefault(path, root)
            elif not walked or path.suffix.lower() in UNSUPPORTED_PICTURE_EXTENSIONS:
                result.unsupported.append((path, root))
        result.unreadable += [(path, root, why) for path, why in problems]

    # Sidecars given directly or found by the walk: claim their photos, or orphan them.
    listings: dict[Path, dict[str, list[str]]] = {}
    for sidecar, root in sidecars:
        listing = listings.get(sidecar.parent)
        if listing is None:
            listing = listings[sidecar.parent] = photo_names(sidecar.parent)
        owners = [sidecar.parent / n for n in listing.get(sidecar.name[:-4], [])]
        if not owners:
            result.orphans.append((sidecar, root))
            continue
        for owner in owners:
            photo = absolute(owner) if owner.is_symlink() else owner
            if not any(photo.is_relative_to(ex) for ex in excluded):
                result.photo_inputs.setdefault(photo, root)

    result.photos = sorted(result.photo_inputs)
    result.orphans = sorted(set(result.orphans))
    return result


def photo_names(folder: Path) -> dict[str, list[str]]:
    """Full name and stem -> names of the (non-hidden) photos in ``folder``."""
    try:
        names = os.listdir(folder)
    except OSError:
        names = []
    photo_ext = _photo_extensions()
    index: dict[str, list[str]] = {}
    for name in names:
        if name.startswith(".") or Path(name).suffix.lower() not in photo_ext:
            continue
        index.setdefault(name, []).append(name)
        index.setdefault(Path(name).stem, []).append(name)
    return index
