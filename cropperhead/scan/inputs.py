"""What a scan's inputs say before any photo is read: catalog rows and input skip records.

A ``--catalog`` lists photos by where they were when it was written; each row is looked
for on disk (:mod:`cropperhead.scan.relocate`) and kept under the photo it found, so
that the photo is scanned wherever it lies. Rows whose file is found nowhere, corrupt
rows, orphan sidecars, unsupported files and folders that cannot be listed are not
photos: they become ``"input"`` state entries (see :mod:`cropperhead.scan.state`)
holding only skip records, re-derived whenever their input is scanned again.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cropperhead.metadata import lrcat
from cropperhead.metadata.types import (
    BAD_METADATA,
    MISSING_FILE,
    UNREADABLE,
    UNSUPPORTED,
    DevelopSettings,
)
from cropperhead.scan import relocate, walker
from cropperhead.scan.arguments import ScanError
from cropperhead.scan.manifest import skipped_record
from cropperhead.scan.state import Entry, new_entry


@dataclass
class CatalogPhotos:
    """What the catalogs of a scan list, by the photo each row was found at.

    Attributes:
        rows: the rows (masters and virtual copies) of each photo found, in catalog order.
        catalogs: the catalogs (absolute paths, as text) that list each photo found.
        entries: one ``"input"`` entry per catalog, with its rows' skip records.
        hints: a ``--path-map`` suggestion per catalog whose photos seem to have moved.
    """

    rows: dict[Path, list[DevelopSettings]] = field(default_factory=dict)
    catalogs: dict[Path, set[str]] = field(default_factory=dict)
    entries: list[Entry] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)


def read_catalogs(
    catalogs: Sequence[Path],
    fields: Sequence[str],
    path_maps: Sequence[relocate.PathMap] = (),
) -> CatalogPhotos:
    """Read every catalog's rows and find each row's photo on disk.

    Args:
        catalogs: absolute paths of the catalogs, each once.
        fields: ``--field`` names to read with the develop settings.
        path_maps: where moved photos lie now.

    Raises:
        ScanError: a catalog cannot be read.
    """
    found = CatalogPhotos()
    for catalog in catalogs:
        missing = _read_catalog(catalog, fields, path_maps, found)
        hint = _missing_hint(catalog, missing)
        if hint is not None:
            found.hints.append(hint)
    return found


def _read_catalog(
    catalog: Path,
    fields: Sequence[str],
    path_maps: Sequence[relocate.PathMap],
    found: CatalogPhotos,
) -> list[str]:
    """Add one catalog's rows and its input entry to ``found``; returns the photos missing."""
    entry = new_entry(f"catalog:{catalog}", "input", input_path=str(catalog))
    entry["catalogs"] = [str(catalog)]
    try:
        items = list(lrcat.iter_catalog(catalog, fields))
    except ValueError as exc:
        raise ScanError(f"--catalog {catalog}: {exc}") from exc
    missing: list[str] = []
    for item in items:
        if not isinstance(item, DevelopSettings):
            entry["skipped"].append(skipped_record(item.source, item.reason, item.detail))
            continue
        if item.photo is None:
            entry["skipped"].append(
                skipped_record(catalog, BAD_METADATA, "catalog row without a file path")
            )
            continue
        where, tried = relocate.locate_catalog_photo(item, path_maps)
        if where is None:
            entry["skipped"].append(_missing_record(catalog, item, tried))
            missing.append(str(item.photo))
            continue
        photo = walker.absolute(where)
        found.rows.setdefault(photo, []).append(item)
        found.catalogs.setdefault(photo, set()).add(str(catalog))
    found.entries.append(entry)
    return missing


def _missing_record(catalog: Path, item: DevelopSettings, tried: Sequence[str]) -> dict[str, str]:
    copy = f" (virtual copy {item.copy_name!r})" if item.copy_name else ""
    elsewhere = f"; also looked at {', '.join(tried[1:])}" if tried[1:] else ""
    return skipped_record(
        item.photo,
        MISSING_FILE,
        f"{catalog.name} lists this photo{copy} but the file is gone" + elsewhere,
    )


def _missing_hint(catalog: Path, missing: list[str]) -> str | None:
    """A --path-map suggestion when a catalog's photos are not where it says."""
    folder = relocate.suggest_path_map(missing)
    if folder is None:
        return None
    return (
        f"{len(missing)} photo(s) of {catalog.name} are not where it says (under "
        f"{folder}); if they moved, tell the scan where they are now: "
        f"--path-map '{folder}=/where/they/are/now'"
    )


def walk_records(walk: walker.WalkResult) -> Iterator[Entry]:
    """The ``"input"`` entries of what a walk found that is no photo to scan."""
    for path, root, why in walk.unreadable:
        entry = new_entry(f"file:{path}", "input", input_path=str(root))
        entry["skipped"].append(skipped_record(path, UNREADABLE, why))
        yield entry
    for sidecar, root in walk.orphans:
        entry = new_entry(f"file:{sidecar}", "input", input_path=str(root))
        entry["skipped"].append(
            skipped_record(sidecar, MISSING_FILE, "XMP sidecar whose photo is not beside it")
        )
        yield entry
    for path, root in walk.unsupported:
        entry = new_entry(f"file:{path}", "input", input_path=str(root))
        entry["skipped"].append(
            skipped_record(
                path,
                UNSUPPORTED,
                f"{path.suffix or path.name!r} is not a photo format read here",
            )
        )
        yield entry
