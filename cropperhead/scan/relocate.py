r"""Find a catalog's photos after they moved: ``--path-map OLD=NEW`` and relative paths.

A Lightroom catalog records every photo by an absolute path on the machine that wrote
it (``C:/Users/me/Pictures/2023/IMG_1.CR2``, ``/Volumes/Photos/2023/IMG_1.CR2``).
Training often runs elsewhere: on a Linux box with a GPU, with the photos copied or the
drive mounted at another place. For each catalog row the scan looks, in this order, at

1. the row's path with the longest matching ``--path-map`` prefix replaced;
2. the row's path as the catalog wrote it;
3. the catalog's own relative path to the photo (``relativePathFromCatalog``, see
   :mod:`cropperhead.metadata.lrcat`), which is right when the catalog and the photos
   were moved together, keeping their places relative to each other;

and takes the first that is a file. A row found nowhere is ``missing-file``, and the
scan's summary suggests a ``--path-map`` for the folder those photos were in.

Prefix rule: ``OLD`` matches a path equal to it or starting with ``OLD/`` (whole folder
names only, so ``D:/Photos`` does not match ``D:/Photos2/...``); ``\\`` counts as ``/``;
a trailing ``/`` is ignored; a Windows drive path (``C:/...``) matches whatever the case
(Windows ignores case). ``NEW`` may start with ``~``. The first ``=`` splits OLD from NEW.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cropperhead.metadata.types import DevelopSettings

__all__ = ["PathMap", "locate_catalog_photo", "parse_path_map", "suggest_path_map"]

_DRIVE = re.compile(r"^[A-Za-z]:(/|$)")


def _normal(path: str) -> str:
    path = path.replace("\\", "/")
    return path.rstrip("/") if path.rstrip("/") else path


@dataclass(frozen=True)
class PathMap:
    """One ``--path-map OLD=NEW``: catalog paths under ``old`` now lie under ``new``."""

    old: str
    new: Path

    def apply(self, path: str) -> str | None:
        """``path`` with ``old`` replaced by ``new``, or None when ``old`` does not match."""
        path = path.replace("\\", "/")
        old = _normal(self.old)
        head = path[: len(old)]
        same = head.lower() == old.lower() if _DRIVE.match(old) else head == old
        if not same:
            return None
        rest = path[len(old) :]
        if rest and not rest.startswith("/") and not old.endswith("/"):
            return None
        rest = rest.lstrip("/")
        return str(self.new / rest) if rest else str(self.new)


def parse_path_map(text: str) -> PathMap:
    """Parse ``OLD=NEW`` (``--path-map``).

    Raises:
        ValueError: no ``=``, or an empty side (one line, for the command line).
    """
    old, sep, new = text.partition("=")
    if not sep or not old.strip() or not new.strip():
        raise ValueError(
            f"expected OLD=NEW (the folder as the catalog has it, then where it is now), "
            f"got {text!r}"
        )
    return PathMap(old.strip(), Path(os.path.expanduser(new.strip())).absolute())


def _mapped(path: str, maps: Sequence[PathMap]) -> str | None:
    best: tuple[int, str] | None = None
    for path_map in maps:
        moved = path_map.apply(path)
        if moved is not None and (best is None or len(_normal(path_map.old)) > best[0]):
            best = (len(_normal(path_map.old)), moved)
    return best[1] if best else None


def locate_catalog_photo(
    row: DevelopSettings, maps: Sequence[PathMap] = ()
) -> tuple[Path | None, list[str]]:
    """Where a catalog row's photo is now (see the module docstring for the order).

    Args:
        row: a catalog row with ``photo`` set.
        maps: the ``--path-map`` values.

    Returns:
        ``(path, tried)``: the first candidate that is a file (None when none is) and
        every candidate looked at, in order.
    """
    if row.photo is None:
        raise ValueError("catalog row without a photo path")
    written = str(row.photo)
    candidates = [_mapped(written, maps), written]
    if row.catalog_relative_photo is not None:
        candidates.append(str(row.catalog_relative_photo))
    tried: list[str] = []
    for candidate in candidates:
        if candidate is None or candidate in tried:
            continue
        tried.append(candidate)
        if os.path.isfile(candidate):
            return Path(candidate), tried
    return None, tried


def suggest_path_map(missing: Iterable[str]) -> str | None:
    """The folder that holds all of ``missing`` (catalog paths), for a ``--path-map`` hint.

    Returns:
        The deepest common folder, as the catalog writes it, or None for no paths or
        paths with nothing in common (a Windows drive and a Unix path).
    """
    folders = [_normal(p).rsplit("/", 1)[0] or "/" for p in missing]
    if not folders:
        return None
    parts = [f.split("/") for f in folders]
    common: list[str] = []
    for names in zip(*parts, strict=False):
        if any(name != names[0] for name in names):
            break
        common.append(names[0])
    folder = "/".join(common)
    if not folder.strip("/") and not all(f.startswith("/") for f in folders):
        return None
    return folder or "/"
