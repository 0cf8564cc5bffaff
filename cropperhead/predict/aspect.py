"""Locked aspect ratios: snap a predicted crop to a ratio, as Lightroom's aspect lock does.

``aspect=auto`` (the default) snaps to the ratio the model predicts the photographer
would choose (cropperhead/geometry/aspect.py), ``aspect=free`` keeps the model's crop.
``aspect=original`` locks to the photo's own ratio ``W':H'``; ``aspect=3:2`` (any
``W:H`` of positive numbers: ``2:3``, ``4:5``, ``1:1``, ``16:9``, ``1.91:1`` ...) locks
the *output picture* to that width-to-height ratio, taken literally: ``3:2`` is
landscape and ``2:3`` portrait, whatever the photo's orientation.

Snapping keeps the crop's centre and angle and picks the size whose area is as close as
possible to the predicted crop's area, capped by the largest crop of that ratio and
angle that fits the photo around that centre
(:func:`cropperhead.geometry.largest_crop`). All geometry is in display pixels (``W' x
H'``), so ratios and angles are true ones.
"""

from __future__ import annotations

import math
import re

from cropperhead.geometry import Crop, CropFrame, crop_to_frame, frame_to_crop, largest_crop

#: The ratios listed in the documentation (others of the form ``W:H`` work too).
NAMED_ASPECTS = ("auto", "free", "original", "3:2", "2:3", "4:5", "5:4", "1:1", "16:9", "9:16")
_RATIO_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*[:x/]\s*(\d+(?:\.\d+)?)\s*")


def parse_aspect(text: str | float | int | None) -> str | float | None:
    """Read an ``aspect=`` value.

    Args:
        text: ``free`` (or None), ``original``, ``auto`` (the photographer's ratio as the
            model predicts it), or ``W:H`` (``x`` and ``/`` also separate).

    Returns:
        None for free, ``"original"``, ``"auto"``, or the ratio width / height as a float.

    Raises:
        ValueError: anything else, quoting the value.
    """
    if text is None:
        return None
    value = str(text).strip().lower()
    if value in ("free", "none", ""):
        return None
    if value in ("original", "auto"):
        return value
    match = _RATIO_RE.fullmatch(value)
    if match is not None:
        width, height = float(match.group(1)), float(match.group(2))
        if width > 0 and height > 0:
            return width / height
    raise ValueError(
        f"aspect must be auto, free, original or W:H with positive numbers (e.g. 3:2), got {text!r}"
    )


def snap_crop_to_aspect(crop: Crop, width_px: float, height_px: float, ratio: float) -> Crop:
    """The crop of output ratio ``ratio`` closest in area to ``crop``, same centre and angle.

    Args:
        crop: a valid display-frame crop (inside the photo).
        width_px: display width W'.
        height_px: display height H'.
        ratio: output width / output height, > 0.

    Returns:
        A crop whose output picture is exactly ``ratio`` wide per unit high, turned by
        ``crop.angle``, centred where ``crop`` is, inside the photo.

    Raises:
        ValueError: ``ratio`` is not a positive number, or ``crop`` is not a real
            rectangle (non-positive output size).
    """
    if not (isinstance(ratio, (int, float)) and math.isfinite(ratio) and ratio > 0):
        raise ValueError(f"ratio must be a positive number, got {ratio!r}")
    frame = crop_to_frame(crop, width_px, height_px)
    p, q = frame.half_width_px, frame.half_height_px
    if p <= 0 or q <= 0:
        raise ValueError(f"crop {crop.to_dict()} is not a rectangle; cannot lock its aspect")
    centre = (
        min(max(frame.cx_px, 1e-9 * width_px), width_px * (1 - 1e-9)),
        min(max(frame.cy_px, 1e-9 * height_px), height_px * (1 - 1e-9)),
    )
    cap = largest_crop(width_px, height_px, ratio, crop.angle, centre)
    cap_q = crop_to_frame(cap, width_px, height_px).half_height_px
    # Same area 4 p q: q' = sqrt(p q / ratio), p' = ratio q'.
    new_q = math.sqrt(p * q / ratio)
    if new_q >= cap_q:
        snapped = cap
    else:
        snapped = frame_to_crop(
            CropFrame(centre[0], centre[1], ratio * new_q, new_q, crop.angle), width_px, height_px
        )
    return Crop(*(_clip01(v) for v in snapped.as_array()[:4]), crop.angle)


def _clip01(value: float) -> float:
    """Float dust at the frame's edges back into [0, 1] (the maths keeps it inside)."""
    return min(max(float(value), 0.0), 1.0)
