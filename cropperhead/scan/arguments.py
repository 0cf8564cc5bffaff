"""The checks a scan makes before it writes anything, and the error that reports them.

``cropperhead scan`` refuses a wrong command line with one clear line and exit status
2 (docs/interfaces.md), and it refuses before touching the output folder: a scan that
cannot run must not leave half a data set behind, nor write into a folder that is not
one of its own. :func:`check_arguments` makes those checks in a fixed order (the first
problem found is the one reported) and, last, creates and marks ``--out``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from cropperhead import files
from cropperhead.metadata import lrcat, xmp
from cropperhead.scan import relocate, walker
from cropperhead.scan.manifest import IMAGES_DIR
from cropperhead.scan.state import DATASET_KIND, is_dataset


class ScanError(ValueError):
    """A scan that cannot start: bad arguments or an unusable output folder."""


def check_arguments(
    sources: Sequence[Path],
    out: Path,
    size: int,
    catalogs: Sequence[Path],
    fields: Sequence[str],
    workers: int | None,
    path_maps: Sequence[str | relocate.PathMap] = (),
) -> tuple[tuple[str, ...], tuple[relocate.PathMap, ...]]:
    """Check a scan's arguments, then create and mark the output folder.

    Returns:
        ``(fields, path_maps)``: the ``--field`` names checked, the path maps parsed.

    Raises:
        ScanError: the first argument found wrong, or an unusable ``out`` (then nothing
            was written).
    """
    _check_numbers(size, workers)
    _check_inputs(sources, catalogs)
    try:
        checked = tuple(xmp.check_field_names(list(fields)))
    except ValueError as exc:
        raise ScanError(f"--field: {exc}") from exc
    maps = _parse_path_maps(path_maps, catalogs)
    _check_out(out, sources)
    try:
        (out / IMAGES_DIR).mkdir(parents=True, exist_ok=True)
        if not files.is_marked(out, DATASET_KIND):
            files.mark_folder(out, DATASET_KIND)
    except OSError as exc:
        raise ScanError(f"--out {out} is not a writable folder: {exc.strerror or exc}") from exc
    return checked, maps


def _check_numbers(size: int, workers: int | None) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ScanError(f"--size must be a positive number of pixels, got {size!r}")
    if workers is not None and (isinstance(workers, bool) or workers < 1):
        raise ScanError(f"--workers must be at least 1, got {workers!r}")


def _check_inputs(sources: Sequence[Path], catalogs: Sequence[Path]) -> None:
    if not sources and not catalogs:
        raise ScanError("nothing to scan: give a SOURCE folder or file, or --catalog")
    for source in sources:
        if not source.exists():
            raise ScanError(f"SOURCE does not exist: {source}")
    for catalog in catalogs:
        _check_catalog(catalog)


def _check_catalog(catalog: Path) -> None:
    if not catalog.exists():
        raise ScanError(f"--catalog does not exist: {catalog}")
    # A folder or a FIFO is refused by the catalog reader, which says which it is.
    try:
        rows = lrcat.iter_catalog(catalog)  # opens and checks the schema at once
    except ValueError as exc:
        raise ScanError(f"--catalog {catalog}: {exc}") from exc
    close = getattr(rows, "close", None)
    if close is not None:
        close()


def _parse_path_maps(
    path_maps: Sequence[str | relocate.PathMap], catalogs: Sequence[Path]
) -> tuple[relocate.PathMap, ...]:
    maps = []
    for path_map in path_maps:
        try:
            maps.append(
                path_map
                if isinstance(path_map, relocate.PathMap)
                else relocate.parse_path_map(path_map)
            )
        except ValueError as exc:
            raise ScanError(f"--path-map: {exc}") from exc
    if maps and not catalogs:
        raise ScanError("--path-map moves a catalog's photos; it needs --catalog")
    return tuple(maps)


def _check_out(out: Path, sources: Sequence[Path]) -> None:
    """Refuse an ``out`` that is a file, a SOURCE, or a folder of someone else's files."""
    if out.exists() and not out.is_dir():
        raise ScanError(f"--out {out} exists and is not a folder")
    for source in sources:
        if source.is_dir() and walker.absolute(source) == walker.absolute(out):
            raise ScanError(f"--out {out} is the SOURCE folder itself; use a folder of its own")
    if out.is_dir() and not is_dataset(out) and _holds_files(out):
        raise ScanError(
            f"--out {out} is not empty and is not a data set made by `cropperhead scan`; "
            "give a new or empty folder (nothing was written)"
        )


def _holds_files(folder: Path) -> bool:
    """Whether anything but (nested) empty folders lies in ``folder``."""
    for _, _, names in os.walk(folder):
        if names:
            return True
    return False
