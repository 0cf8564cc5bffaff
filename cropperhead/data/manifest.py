"""Reading a scanned training set's manifest.jsonl (no torch: cheap to import).

``DATASET_DIR/manifest.jsonl`` is written by ``cropperhead scan`` (docs/interfaces.md):
one line per sample with ``image`` (relative path of the display-oriented, resized
JPEG), ``source``, ``width``/``height`` (display size of the original) and ``crop``
(display-frame record).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cropperhead.geometry import Crop


class DatasetError(ValueError):
    """The training set is missing, empty or malformed (one-line message)."""


@dataclass(frozen=True)
class Sample:
    """One manifest row.

    Attributes:
        image: absolute path of the scanned image.
        source: the original photo (groups virtual copies for splitting).
        width: display width W' of the original.
        height: display height H' of the original.
        crop: display-frame crop.
        origin: where the crop came from (xmp-sidecar, lrcat, ...).
    """

    image: Path
    source: str
    width: int
    height: int
    crop: Crop
    origin: str = ""


def check_dataset_root(root: Path | str) -> Path:
    """The path of ``root/manifest.jsonl``, checked cheaply: it exists and is not empty.

    Raises:
        DatasetError: there is none, or it has no lines (a one-line message that says
            how to make one).
    """
    root = Path(root).expanduser()
    manifest = root / "manifest.jsonl"
    if not manifest.is_file():
        raise DatasetError(f"no training set at {root} (no manifest.jsonl): {_hint(root)}")
    try:
        with manifest.open("rb") as fh:
            empty = not any(line.strip() for line in fh)
    except OSError as exc:
        raise DatasetError(f"cannot read {manifest}: {exc.strerror or exc}") from exc
    if empty:
        raise DatasetError(f"the training set at {root} has no samples: {_hint(root)}")
    return manifest


def _hint(root: Path) -> str:
    return f"run `cropperhead scan YOUR_PHOTOS --out {root}` to make a training set"


def read_manifest(root: Path | str) -> list[Sample]:
    """Read ``root/manifest.jsonl``.

    Raises:
        DatasetError: the folder or manifest is missing or has no samples, or a line is
            malformed (the message names the line and says how to make a training set).
    """
    root = Path(root).expanduser()
    manifest = check_dataset_root(root)
    samples: list[Sample] = []
    with manifest.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                samples.append(
                    Sample(
                        image=root / row["image"],
                        source=str(row["source"]),
                        width=int(row["width"]),
                        height=int(row["height"]),
                        crop=Crop.from_dict(row["crop"]),
                        origin=str(row.get("origin", "")),
                    )
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise DatasetError(f"{manifest}:{number}: malformed manifest line ({exc})") from exc
    if not samples:
        raise DatasetError(f"the training set at {root} has no samples: {_hint(root)}")
    return samples


def usual_crop(samples: list[Sample]) -> tuple[float, float, float, float, float]:
    """The photographer's habit: the median of each crop coordinate."""
    if not samples:
        return (0.0, 0.0, 1.0, 1.0, 0.0)
    arr = np.stack([s.crop.as_array() for s in samples])
    return tuple(float(v) for v in np.median(arr, axis=0))
