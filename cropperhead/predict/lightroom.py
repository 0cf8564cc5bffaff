"""What the Lightroom Classic plug-in needs from a prediction (``lightroom/CropperHead.lrplugin``).

The plug-in applies a suggestion with ``photo:applyDevelopSettings`` and does no geometry
in Lua: each predict record carries the crop in Lightroom's own form,

    "lightroom": {"CropLeft": ..., "CropTop": ..., "CropRight": ..., "CropBottom": ...,
                  "CropAngle": ..., "orientation": "BC"}

the same five numbers as ``crs:Crop*`` (fractions of the **stored** frame, the file's
pixels as they lie, Lightroom's angle), computed from the display-frame record with
:func:`cropperhead.geometry.crop_display_to_stored`, and Lightroom's orientation code for
the EXIF orientation the prediction was made under. The plug-in compares that code with
the photo's current orientation in Lightroom and skips the photo when they differ.

The plug-in also hands predict two files (read here, so that ``predict.py`` only wires
them in):

- ``orientations=FILE.json``: ``{"/abs/IMG_1.CR2": 6, ...}``, the EXIF orientation (1-8)
  to use instead of the file's own, taken from Lightroom's orientation of each photo (the
  photographer may have turned it in Lightroom): :func:`read_orientations`.
- ``input_list=FILE.json``: ``["/abs/IMG_1.CR2", ...]``, the photos to predict, so that
  hundreds of paths (with any characters) never go through a shell command line:
  :func:`read_photo_list`.

Both files are UTF-8 JSON; names that are not valid UTF-8 are read with
``surrogateescape``, as predict writes them.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from cropperhead.data.manifest import round_value
from cropperhead.geometry import Crop, check_orientation, crop_display_to_stored, display_size
from cropperhead.metadata.lrcat import LIGHTROOM_ORIENTATIONS

__all__ = [
    "LIGHTROOM_CODES",
    "lightroom_code",
    "lightroom_values",
    "read_orientations",
    "read_photo_list",
]

#: EXIF orientation -> Lightroom's orientation code (the inverse of the catalog reader's table).
LIGHTROOM_CODES: dict[int, str] = {exif: code for code, exif in LIGHTROOM_ORIENTATIONS.items()}
_EDGE_KEYS = ("CropLeft", "CropTop", "CropRight", "CropBottom")


def lightroom_code(orientation: int) -> str:
    """Lightroom's orientation code (``"AB"``, ``"BC"``, ...) of an EXIF orientation 1..8.

    Raises:
        ValueError: not an EXIF orientation.
    """
    return LIGHTROOM_CODES[check_orientation(orientation)]


def _edge(value: float) -> float:
    # Crop allows 1e-6 of slack outside [0, 1]; Lightroom gets the clamped value.
    return round_value(min(max(float(value), 0.0), 1.0))


def lightroom_values(crop: Crop, width: int, height: int, orientation: int) -> dict[str, Any]:
    """The record's ``"lightroom"`` value: a display-frame crop as Lightroom stores it.

    Args:
        crop: the suggested crop, display frame (the record's ``"crop"``).
        width: display width W' of the photo (the record's ``"width"``).
        height: display height H'.
        orientation: EXIF orientation 1..8 the display frame was made with (the file's
            own, or the one ``orientations=`` gave for it).

    Returns:
        ``{"CropLeft", "CropTop", "CropRight", "CropBottom"}`` (fractions of the stored
        frame, rounded as the rest of the record, clamped to [0, 1]), ``"CropAngle"``
        (degrees, negated for the mirrored orientations 2, 4, 5, 7) and
        ``"orientation"`` (Lightroom's code).

    Raises:
        ValueError: a bad orientation or a non-positive size.
    """
    code = lightroom_code(orientation)
    if not (width > 0 and height > 0):
        raise ValueError(f"photo size must be positive, got {width!r} x {height!r}")
    stored_w, stored_h = display_size(width, height, orientation)
    stored = crop_display_to_stored(crop, stored_w, stored_h, orientation)
    values: dict[str, Any] = {key: _edge(getattr(stored, key[4:].lower())) for key in _EDGE_KEYS}
    values["CropAngle"] = round_value(stored.angle)
    values["orientation"] = code
    return values


def _read_json(path: Path | str, what: str) -> Any:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            return json.load(handle)
    except OSError as exc:
        raise ValueError(f"{what} {path}: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what} {path}: not JSON ({exc})") from exc


def read_orientations(path: Path | str) -> dict[Path, int]:
    """Read an ``orientations=`` file: photo path -> EXIF orientation to use.

    Args:
        path: a JSON object ``{"/abs/photo": 1..8, ...}``.

    Returns:
        The table, keyed by absolute, symlink-resolved paths (``os.path.realpath``, the
        identity predict and the scan give a photo file), so that a key matches the photo
        however the plug-in spelled its folder.

    Raises:
        ValueError: an unreadable file, not an object, or a value that is not 1..8
            (one line, naming the photo).
    """
    table = _read_json(path, "orientations")
    if not isinstance(table, dict):
        raise ValueError(f"orientations {path}: expected a JSON object of photo: 1..8")
    out: dict[Path, int] = {}
    for photo, code in table.items():
        if isinstance(code, float) and math.isfinite(code) and code.is_integer():
            code = int(code)
        try:
            exif = check_orientation(code)
        except ValueError:
            raise ValueError(
                f"orientations {path}: {photo}: orientation must be 1..8, got {code!r}"
            ) from None
        out[Path(os.path.realpath(photo))] = exif
    return out


def read_photo_list(path: Path | str) -> list[str]:
    """Read an ``input_list=`` file: the photos to predict, in order.

    Args:
        path: a JSON array of path strings.

    Returns:
        The paths as written (predict resolves them like ``input=`` values).

    Raises:
        ValueError: an unreadable file, not an array of strings, or an empty string.
    """
    items = _read_json(path, "input_list")
    if not isinstance(items, list):
        raise ValueError(f"input_list {path}: expected a JSON array of photo paths")
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"input_list {path}: every entry must be a path, got {item!r}")
    return list(items)
