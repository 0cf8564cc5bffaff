"""The photos ``input=`` names: files, folders and globs, found as ``cropperhead scan`` finds them.

A folder is walked recursively like the scan walks it (RAW files included, hidden
folders skipped, symbolic links followed once); a glob (``'~/Pictures/2024-*/*.CR2'``,
``**`` recursive) picks photos, sidecars and folders. Files that are not photos
CropperHead reads become :class:`Unsupported` records, counted in the run's summary.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cropperhead.metadata.types import UNSUPPORTED
from cropperhead.predict.errors import PredictError
from cropperhead.scan import walker


@dataclass(frozen=True)
class Unsupported:
    """A file named by ``input=`` (or found by the walk) that is not a readable photo."""

    source: Path
    reason: str
    detail: str


def find_photos(inputs: Sequence[str | Path]) -> tuple[list[Path], list[Unsupported]]:
    """The photos named by ``input=``: files, folders (walked) and globs.

    Args:
        inputs: paths or glob patterns (``~`` expanded).

    Returns:
        ``(photos, unsupported)``: absolute photo paths without duplicates, in walk order
        (sorted per source), and skip records for files given or found that are not
        readable photos (``unsupported``).

    Raises:
        PredictError: a path that is neither an existing file/folder nor a matching glob.
    """
    sources: list[Path] = []
    for item in inputs:
        text = os.path.expanduser(str(item))
        if os.path.exists(text):
            sources.append(Path(text))
        elif glob.has_magic(text):
            matches = sorted(glob.glob(text, recursive=True))
            # A glob picks photos, sidecars and folders; other matching files are ignored.
            sources += [
                Path(m)
                for m in matches
                if os.path.isdir(m) or walker.is_photo(Path(m)) or walker.is_sidecar(Path(m))
            ]
        else:
            raise PredictError(f"input {item}: no such file or folder")
    if not sources:
        return [], []
    try:
        found = walker.walk_sources(sources)
    except FileNotFoundError as exc:
        raise PredictError(f"input: {exc}") from exc
    photos = list(dict.fromkeys(found.photos))
    unsupported = [
        Unsupported(path, UNSUPPORTED, f"not a photo format CropperHead reads ({path.suffix})")
        for path, _ in found.unsupported
    ]
    return photos, unsupported


__all__ = ["Unsupported", "find_photos"]
