"""What a scan hands over: ``images/``, ``manifest.jsonl`` and ``skipped.jsonl``.

docs/interfaces.md fixes these three; training, predict and the reports read them::

    images/            display-oriented JPEGs, one per sample
    manifest.jsonl     one sample per line, exactly the documented keys
    skipped.jsonl      {"source", "reason", "detail"} per file looked at and not used

The manifest and skipped lists are views of the scan's state
(:mod:`cropperhead.scan.state`): a scan rebuilds them from it at the end, and replaces
each whole (:func:`cropperhead.scan.jsonl.atomic_text`), so a crash leaves the previous
version intact. Reading a manifest is :mod:`cropperhead.data.manifest`'s, which also
owns the file's name and the rounding of its values.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cropperhead.data.manifest import MANIFEST_NAME
from cropperhead.scan.jsonl import atomic_text, json_line

SKIPPED_NAME = "skipped.jsonl"
IMAGES_DIR = "images"

#: The keys of a manifest line, in the order docs/interfaces.md lists them.
MANIFEST_KEYS = ("image", "source", "width", "height", "crop", "corners", "origin", "extra")
SKIPPED_KEYS = ("source", "reason", "detail")


def manifest_record(
    image: str,
    source: str,
    width: int,
    height: int,
    crop: dict[str, float],
    corners: list[list[float]],
    origin: str,
    extra: dict[str, str],
) -> dict[str, Any]:
    """One manifest line with exactly the documented keys, in the documented order."""
    return {
        "image": image,
        "source": source,
        "width": int(width),
        "height": int(height),
        "crop": crop,
        "corners": corners,
        "origin": origin,
        "extra": extra,
    }


def skipped_record(source: str | Path, reason: str, detail: str) -> dict[str, str]:
    """One skipped.jsonl line: ``{"source", "reason", "detail"}``."""
    return {"source": str(source), "reason": reason, "detail": detail}


@dataclass
class Outputs:
    """What :func:`write_outputs` wrote.

    Attributes:
        samples_by_origin: manifest lines per ``origin``.
        skipped_by_reason: skipped.jsonl lines per ``reason``.
        images: the file names (in ``images/``) that the manifest refers to.
    """

    samples_by_origin: Counter[str] = field(default_factory=Counter)
    skipped_by_reason: Counter[str] = field(default_factory=Counter)
    images: set[str] = field(default_factory=set)


def write_outputs(out: Path, entries: Mapping[str, dict[str, Any]]) -> Outputs:
    """Rebuild ``manifest.jsonl`` and ``skipped.jsonl`` from the state entries.

    Lines are sorted by entry id, so the same data set always gives the same files.
    One pass: each entry is read once (an :class:`~cropperhead.scan.state.EntryStore`
    decodes it then) and its samples and skip records go to the two files, each
    replaced atomically.

    Returns:
        The line counts by origin and reason, and the image names in use.
    """
    result = Outputs()
    with atomic_text(out / MANIFEST_NAME) as manifest, atomic_text(out / SKIPPED_NAME) as skipped:
        for entry_id in sorted(entries):
            entry = entries[entry_id]
            for sample in entry.get("samples", ()):
                manifest.write(json_line(sample))
                result.samples_by_origin[sample["origin"]] += 1
                result.images.add(Path(sample["image"]).name)
            for record in entry.get("skipped", ()):
                skipped.write(json_line(record))
                result.skipped_by_reason[record["reason"]] += 1
    return result
