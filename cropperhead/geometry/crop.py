"""The crop record and its exact geometry.

A crop is five numbers, ``(left, top, right, bottom, angle)``, exactly as Lightroom's
``crs:CropLeft/Top/Right/Bottom/Angle``: ``(left * W, top * H)`` and
``(right * W, bottom * H)`` are the top-left and bottom-right corners *of the output
picture*, two opposite corners of a rectangle turned by ``angle`` degrees (positive:
the crop box turns clockwise on the photo, y axis pointing down). The same formulas
hold in the stored and in the display frame; the frame is whichever ``W x H`` the
numbers are fractions of (see ``orientation.py`` for moving between them).

All functions here are pure: numbers in, numbers out, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Lightroom's straighten tool stops at 45 degrees either way.
MAX_ANGLE_DEG = 45.0
#: Slack for "inside the image" and range checks, in pixels or fractions.
TOLERANCE = 1e-6

FULL_FRAME_KEYS = ("left", "top", "right", "bottom", "angle")


@dataclass(frozen=True)
class Crop:
    """A crop record: four edges as fractions of the frame plus the angle in degrees.

    The frame (stored or display) is implied by the caller. Construction checks only
    that the numbers are finite and in range; whether the turned rectangle lies inside
    a given image is :func:`crop_is_inside`, because it depends on the image's aspect.

    Raises:
        ValueError: a value is not finite, an edge lies outside [0, 1] or the angle
            lies outside [-45, 45] degrees.
    """

    left: float
    top: float
    right: float
    bottom: float
    angle: float = 0.0

    def __post_init__(self) -> None:
        for name in FULL_FRAME_KEYS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)):
                raise TypeError(f"crop {name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"crop {name} must be finite, got {value!r}")
            object.__setattr__(self, name, float(value))
        for name in FULL_FRAME_KEYS[:4]:
            value = getattr(self, name)
            if not -TOLERANCE <= value <= 1 + TOLERANCE:
                raise ValueError(f"crop {name} must lie in [0, 1], got {value!r}")
        if abs(self.angle) > MAX_ANGLE_DEG + TOLERANCE:
            raise ValueError(f"crop angle must lie in [-45, 45] degrees, got {self.angle!r}")

    @classmethod
    def full_frame(cls) -> Crop:
        """The uncropped, unturned picture."""
        return cls(0.0, 0.0, 1.0, 1.0, 0.0)

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Crop:
        """Build a crop from ``{"left", "top", "right", "bottom", "angle"}``.

        ``angle`` may be missing (0). Raises ``ValueError`` naming a missing key.
        """
        missing = [k for k in FULL_FRAME_KEYS[:4] if k not in record]
        if missing:
            raise ValueError(f"crop record lacks {', '.join(missing)}: {record!r}")
        return cls(*(record[k] for k in FULL_FRAME_KEYS[:4]), record.get("angle", 0.0))

    def to_dict(self) -> dict[str, float]:
        """The interface's crop record, ``{"left": ..., "angle": ...}``."""
        return {k: getattr(self, k) for k in FULL_FRAME_KEYS}

    def as_array(self) -> np.ndarray:
        """``[left, top, right, bottom, angle]`` as float64, shape ``[5]``."""
        return np.array([getattr(self, k) for k in FULL_FRAME_KEYS], dtype=np.float64)

    def is_full_frame(self, tol: float = TOLERANCE) -> bool:
        """True when this crop keeps the whole picture and turns nothing."""
        return bool(np.all(np.abs(self.as_array() - (0, 0, 1, 1, 0)) <= tol))


@dataclass(frozen=True)
class CropFrame:
    """A crop's rectangle in pixels: centre, half output size and angle.

    ``half_width_px``/``half_height_px`` are ``p``/``q`` of lightroom-crop.md: the
    output picture is ``2p x 2q`` pixels.
    """

    cx_px: float
    cy_px: float
    half_width_px: float
    half_height_px: float
    angle_deg: float


def _axes(angle_deg: float) -> tuple[np.ndarray, np.ndarray]:
    theta = math.radians(angle_deg)
    c, s = math.cos(theta), math.sin(theta)
    return np.array([c, s]), np.array([-s, c])


def crop_to_frame(crop: Crop, width_px: float, height_px: float) -> CropFrame:
    """Centre, half output size and angle of ``crop`` on a ``width x height`` image.

    Args:
        crop: the crop, fractions of this frame.
        width_px: frame width W.
        height_px: frame height H.

    Returns:
        The rectangle; its half sizes are negative when the two corners cannot be the
        top-left and bottom-right of a picture turned by ``crop.angle``.
    """
    theta = math.radians(crop.angle)
    half_dx = (crop.right - crop.left) / 2 * width_px
    half_dy = (crop.bottom - crop.top) / 2 * height_px
    p = half_dx * math.cos(theta) + half_dy * math.sin(theta)
    q = -half_dx * math.sin(theta) + half_dy * math.cos(theta)
    return CropFrame(
        (crop.left + crop.right) / 2 * width_px,
        (crop.top + crop.bottom) / 2 * height_px,
        p,
        q,
        crop.angle,
    )


def frame_to_crop(frame: CropFrame, width_px: float, height_px: float) -> Crop:
    """Inverse of :func:`crop_to_frame`: the crop whose rectangle is ``frame``.

    Raises:
        ValueError: the resulting edges fall outside [0, 1].
    """
    u, v = _axes(frame.angle_deg)
    c = np.array([frame.cx_px, frame.cy_px])
    tl = c - frame.half_width_px * u - frame.half_height_px * v
    br = c + frame.half_width_px * u + frame.half_height_px * v
    return Crop(
        _snap(tl[0] / width_px),
        _snap(tl[1] / height_px),
        _snap(br[0] / width_px),
        _snap(br[1] / height_px),
        frame.angle_deg,
    )


def _snap(value: float) -> float:
    """Round away float dust at the frame's edges (-1e-17 -> 0, 1 + 1e-16 -> 1)."""
    if abs(value) < 1e-12:
        return 0.0
    if abs(value - 1) < 1e-12:
        return 1.0
    return float(value)


def crop_to_corners(crop: Crop, width_px: float = 1.0, height_px: float = 1.0) -> np.ndarray:
    """The four corners of the crop, in pixels of a ``width x height`` frame.

    Args:
        crop: the crop, fractions of this frame.
        width_px: frame width (1 gives coordinates normalised by W).
        height_px: frame height (1 gives coordinates normalised by H).

    Returns:
        ``[4, 2]`` float64 array of ``(x, y)``: top-left, top-right, bottom-right,
        bottom-left *of the output picture*, in this frame's pixels.
    """
    # Turned corners need the true pixel geometry: compute in pixels, scale at the end.
    f = crop_to_frame(crop, width_px, height_px)
    u, v = _axes(f.angle_deg)
    c = np.array([f.cx_px, f.cy_px])
    p, q = f.half_width_px * u, f.half_height_px * v
    return np.stack([c - p - q, c + p - q, c + p + q, c - p + q])


def corners_to_crop(corners: np.ndarray, width_px: float = 1.0, height_px: float = 1.0) -> Crop:
    """The crop whose output picture has these corners (inverse of :func:`crop_to_corners`).

    Args:
        corners: ``[4, 2]`` top-left, top-right, bottom-right, bottom-left in pixels of a
            ``width x height`` frame; a rectangle up to float error.
        width_px: frame width.
        height_px: frame height.

    Returns:
        The crop; its angle is the direction of the top edge (TL -> TR).

    Raises:
        ValueError: the corners are not a ``[4, 2]`` array, or the angle leaves +-45.
    """
    pts = np.asarray(corners, dtype=np.float64)
    if pts.shape != (4, 2):
        raise ValueError(f"corners must have shape [4, 2], got {pts.shape}")
    top_edge = pts[1] - pts[0]
    # The top edge of a picture turned by angle points along (cos, sin); average it with
    # the bottom edge so that float noise in one corner does not tilt the result.
    direction = top_edge + (pts[2] - pts[3])
    angle = math.degrees(math.atan2(direction[1], direction[0]))
    return Crop(
        _snap(pts[0, 0] / width_px),
        _snap(pts[0, 1] / height_px),
        _snap(pts[2, 0] / width_px),
        _snap(pts[2, 1] / height_px),
        angle,
    )


def crop_output_size_px(crop: Crop, width_px: float, height_px: float) -> tuple[float, float]:
    """Width and height of the cropped, straightened picture (``2p x 2q``) in pixels."""
    f = crop_to_frame(crop, width_px, height_px)
    return 2 * f.half_width_px, 2 * f.half_height_px


def crop_is_inside(crop: Crop, width_px: float, height_px: float, tol_px: float = 1e-6) -> bool:
    """True when ``crop`` is a real rectangle with all four corners inside the image.

    This is Lightroom's "constrain to image": ``p > 0``, ``q > 0`` and every corner in
    ``[0, W] x [0, H]`` up to ``tol_px`` pixels.
    """
    f = crop_to_frame(crop, width_px, height_px)
    if f.half_width_px <= 0 or f.half_height_px <= 0:
        return False
    pts = crop_to_corners(crop, width_px, height_px)
    return bool(
        np.all(pts[:, 0] >= -tol_px)
        and np.all(pts[:, 0] <= width_px + tol_px)
        and np.all(pts[:, 1] >= -tol_px)
        and np.all(pts[:, 1] <= height_px + tol_px)
    )


def largest_crop(
    width_px: float,
    height_px: float,
    aspect: float,
    angle_deg: float = 0.0,
    center_px: tuple[float, float] | None = None,
) -> Crop:
    """The largest crop of a given output aspect and angle, centred at a point.

    Args:
        width_px: image width W.
        height_px: image height H.
        aspect: output width / output height, > 0.
        angle_deg: straighten angle in degrees.
        center_px: centre of the crop in pixels; default the image centre. It must lie
            strictly inside the image.

    Returns:
        The crop whose output picture is ``aspect`` wide per unit high, turned by
        ``angle_deg``, centred at ``center_px``, and as large as possible with all four
        corners inside the image.

    Raises:
        ValueError: non-positive aspect or a centre not strictly inside the image.
    """
    if not (aspect > 0 and math.isfinite(aspect)):
        raise ValueError(f"aspect must be a positive number, got {aspect!r}")
    cx, cy = center_px if center_px is not None else (width_px / 2, height_px / 2)
    room_x, room_y = min(cx, width_px - cx), min(cy, height_px - cy)
    if room_x <= 0 or room_y <= 0:
        raise ValueError(f"centre {(cx, cy)} is not inside a {width_px} x {height_px} image")
    theta = math.radians(angle_deg)
    c, s = abs(math.cos(theta)), abs(math.sin(theta))
    # Output half size (k * aspect, k); its axis-aligned bounding box has half extents
    # (k (aspect c + s), k (aspect s + c)), which must fit the room around the centre.
    k = min(room_x / (aspect * c + s), room_y / (aspect * s + c))
    return frame_to_crop(CropFrame(cx, cy, k * aspect, k, angle_deg), width_px, height_px)
