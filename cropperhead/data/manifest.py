"""Reading a scanned training set's manifest.jsonl (no torch: cheap to import).

``DATASET_DIR/manifest.jsonl`` is written by ``cropperhead scan`` (docs/interfaces.md):
one line per sample with ``image`` (relative path of the display-oriented, resized
JPEG), ``source``, ``width``/``height`` (display size of the original) and ``crop``
(display-frame record).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cropperhead import files
from cropperhead.geometry import Crop

log = logging.getLogger(__name__)

#: The manifest's file name inside a data set folder.
MANIFEST_NAME = "manifest.jsonl"
#: Decimals kept for the fractions and the angle in the records the scan and predict write
#: (far below a pixel of any photo, and stable in text).
DIGITS = 9


def round_value(value: float) -> float:
    """``value`` rounded to :data:`DIGITS` decimals, with ``-0.0`` written as ``0.0``."""
    value = round(float(value), DIGITS)
    return 0.0 if value == 0 else value


def crop_record(crop: Crop) -> dict[str, float]:
    """The interface's crop record (left, top, right, bottom, angle), rounded."""
    return {k: round_value(v) for k, v in crop.to_dict().items()}


def corners_record(
    corners_xy_norm: Iterable[Sequence[float]], clip: bool = False
) -> list[list[float]]:
    """Corner points ``[[x, y], ...]`` normalised by the display size, rounded.

    Args:
        corners_xy_norm: TL, TR, BR, BL as fractions of the display width and height.
        clip: clamp each coordinate to [0, 1] (a prediction's corners may graze the
            edge by a rounding error).
    """
    if clip:
        return [
            [round_value(min(max(x, 0.0), 1.0)), round_value(min(max(y, 0.0), 1.0))]
            for x, y in corners_xy_norm
        ]
    return [[round_value(x), round_value(y)] for x, y in corners_xy_norm]


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
    manifest = root / MANIFEST_NAME
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
                image = _image_path(root, row["image"])
                samples.append(
                    Sample(
                        image=image,
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


def _image_path(root: Path, image: object) -> Path:
    """``root / image``, refusing a path that leaves the data set.

    A scan writes ``images/NAME.jpg``. An absolute path, a ``..`` part or a link out of
    the folder would make training (and its validation pictures) read any file on disk.

    Raises:
        ValueError: naming the value.
    """
    if not isinstance(image, str) or not image:
        raise ValueError(f"image must be a relative path, got {image!r}")
    relative = Path(image)
    if relative.is_absolute() or ".." in relative.parts or relative.drive:
        raise ValueError(f"image {image!r} is not a path inside the data set")
    path = root / relative
    real_root = Path(os.path.realpath(root))
    if not Path(os.path.realpath(path)).is_relative_to(real_root):
        raise ValueError(f"image {image!r} links out of the data set")
    return path


def image_problem(path: Path) -> str | None:
    """Why the image of a sample cannot be used (missing, not a file, cut short), or None."""
    try:
        st = files.check_regular(path)
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return exc.strerror or str(exc)
    if st.st_size == 0:
        return "empty"
    if path.suffix.lower() in (".jpg", ".jpeg"):
        from cropperhead.imaging import jpeg_is_complete

        if not jpeg_is_complete(path):
            return "not a whole JPEG (cut short or damaged)"
    return None


def read_usable_samples(root: Path | str) -> list[Sample]:
    """:func:`read_manifest`, leaving out samples whose image is missing or damaged.

    A photo whose scanned image was deleted or truncated (a full disk, a copy that
    stopped) would crash training halfway through; such samples are left out with one
    warning that counts them and says how to get them back.

    Raises:
        DatasetError: as :func:`read_manifest`, or no sample has a usable image.
    """
    root = Path(root).expanduser()
    samples = read_manifest(root)
    usable: list[Sample] = []
    bad: list[tuple[Sample, str]] = []
    for sample in samples:
        problem = image_problem(sample.image)
        if problem is None:
            usable.append(sample)
        else:
            bad.append((sample, problem))
    if bad:
        first, why = bad[0]
        message = (
            f"{len(bad)} of {len(samples)} samples of {root} left out: their images are "
            f"missing or damaged (first: {first.image.relative_to(root)}: {why}); "
            f"`cropperhead scan` into {root} again writes them anew"
        )
        if not usable:
            raise DatasetError(message.replace("left out", "unusable", 1))
        log.warning(message)
    return usable


def usual_crop(samples: list[Sample]) -> tuple[float, float, float, float, float]:
    """The photographer's habit: the median of each crop coordinate."""
    if not samples:
        return (0.0, 0.0, 1.0, 1.0, 0.0)
    arr = np.stack([s.crop.as_array() for s in samples])
    return tuple(float(v) for v in np.median(arr, axis=0))
