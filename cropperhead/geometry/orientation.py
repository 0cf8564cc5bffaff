"""Stored frame <-> display frame for the eight EXIF orientations.

Lightroom stores a crop in the *stored* frame (pixels as they lie in the file); people
see the *display* frame, after the EXIF/XMP orientation is applied. A stored point
``(x, y)`` of a ``W x H`` file is shown at (lightroom-crop.md):

=====  =============  ===========
code   display point  display size
=====  =============  ===========
1      (x, y)         W x H
2      (W-x, y)       W x H       mirrored
3      (W-x, H-y)     W x H
4      (x, H-y)       W x H       mirrored
5      (y, x)         H x W       mirrored
6      (H-y, x)       H x W       turn 90 clockwise
7      (H-y, W-x)     H x W       mirrored
8      (y, W-x)       H x W       turn 90 counter-clockwise
=====  =============  ===========

Moving a crop between frames maps its corners, renames them as seen in the displayed
cropped picture, and negates the angle for the mirrored codes.
"""

from __future__ import annotations

import numpy as np

from cropperhead.geometry.crop import Crop, corners_to_crop, crop_to_corners

ORIENTATIONS = (1, 2, 3, 4, 5, 6, 7, 8)
MIRRORED = frozenset({2, 4, 5, 7})
TRANSPOSED = frozenset({5, 6, 7, 8})
#: The orientation that undoes each one (6 and 8 undo each other; the rest are involutions).
INVERSE = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 8, 7: 7, 8: 6}


def check_orientation(orientation: int) -> int:
    """Return ``orientation`` if it is an EXIF code 1..8, else raise ``ValueError``."""
    if isinstance(orientation, bool) or orientation not in ORIENTATIONS:
        raise ValueError(f"EXIF orientation must be one of 1..8, got {orientation!r}")
    return int(orientation)


def display_size(width_px: float, height_px: float, orientation: int) -> tuple[float, float]:
    """Display-frame size of a stored ``width x height`` image."""
    if check_orientation(orientation) in TRANSPOSED:
        return height_px, width_px
    return width_px, height_px


def points_stored_to_display(
    points: np.ndarray, width_px: float, height_px: float, orientation: int
) -> np.ndarray:
    """Map stored-frame points to the display frame.

    Args:
        points: ``[..., 2]`` array of stored ``(x, y)`` in pixels of a ``W x H`` file.
        width_px: stored width W.
        height_px: stored height H.
        orientation: EXIF orientation 1..8.

    Returns:
        ``[..., 2]`` display-frame ``(x, y)`` in pixels.
    """
    pts = np.asarray(points, dtype=np.float64)
    x, y = pts[..., 0], pts[..., 1]
    w, h = width_px, height_px
    mapped = {
        1: (x, y),
        2: (w - x, y),
        3: (w - x, h - y),
        4: (x, h - y),
        5: (y, x),
        6: (h - y, x),
        7: (h - y, w - x),
        8: (y, w - x),
    }[check_orientation(orientation)]
    return np.stack(mapped, axis=-1)


def points_display_to_stored(
    points: np.ndarray, width_px: float, height_px: float, orientation: int
) -> np.ndarray:
    """Inverse of :func:`points_stored_to_display` (``width``/``height`` are *stored*)."""
    dw, dh = display_size(width_px, height_px, orientation)
    return points_stored_to_display(points, dw, dh, INVERSE[check_orientation(orientation)])


def _corner_order(orientation: int) -> np.ndarray:
    """Which mapped corner becomes each display corner.

    The cropped output picture turns with the photo: map its own corners
    (TL, TR, BR, BL of a 1 x 1 picture) and see where each lands.
    """
    unit = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=np.float64)
    landed = points_stored_to_display(unit, 1.0, 1.0, orientation)
    # order[i] = index of the stored corner that is shown as display corner i.
    return np.array([int(np.flatnonzero((landed == unit[i]).all(axis=1))[0]) for i in range(4)])


_ORDERS = {o: _corner_order(o) for o in ORIENTATIONS}


def corners_stored_to_display(
    corners: np.ndarray, width_px: float, height_px: float, orientation: int
) -> np.ndarray:
    """Map a crop's four stored corners to display pixels and rename them.

    Args:
        corners: ``[4, 2]`` stored TL, TR, BR, BL in pixels of the ``W x H`` file.
        width_px: stored width W.
        height_px: stored height H.
        orientation: EXIF orientation 1..8.

    Returns:
        ``[4, 2]`` display TL, TR, BR, BL, as seen in the displayed cropped picture.
    """
    mapped = points_stored_to_display(corners, width_px, height_px, orientation)
    return mapped[_ORDERS[orientation]]


def crop_stored_to_display(crop: Crop, width_px: float, height_px: float, orientation: int) -> Crop:
    """Convert a stored-frame crop (as in crs:Crop*) to the display frame.

    Args:
        crop: fractions of the stored ``W x H`` frame, Lightroom's angle.
        width_px: stored width W (pixels; the aspect matters for turned crops).
        height_px: stored height H.
        orientation: EXIF orientation 1..8.

    Returns:
        The same crop as fractions of the display frame. The angle is negated for the
        mirrored orientations 2, 4, 5 and 7.
    """
    corners = crop_to_corners(crop, width_px, height_px)
    shown = corners_stored_to_display(corners, width_px, height_px, orientation)
    dw, dh = display_size(width_px, height_px, orientation)
    return _rebuild(shown, dw, dh, crop.angle, orientation)


def crop_display_to_stored(crop: Crop, width_px: float, height_px: float, orientation: int) -> Crop:
    """Convert a display-frame crop to the stored frame (inverse of the above).

    Args:
        crop: fractions of the display frame, display-frame angle.
        width_px: *stored* width W of the file.
        height_px: *stored* height H of the file.
        orientation: EXIF orientation 1..8.

    Returns:
        The crop as Lightroom stores it (crs:Crop* fractions of the stored frame).
    """
    inverse = INVERSE[check_orientation(orientation)]
    dw, dh = display_size(width_px, height_px, orientation)
    return crop_stored_to_display(crop, dw, dh, inverse)


def _rebuild(
    corners: np.ndarray, width_px: float, height_px: float, angle: float, orientation: int
) -> Crop:
    # The angle is exact from the sign rule; corners_to_crop would re-derive it with
    # float noise. Keep the corners' TL/BR and the exact angle.
    rebuilt = corners_to_crop(corners, width_px, height_px)
    display_angle = -angle if orientation in MIRRORED else angle
    return Crop(rebuilt.left, rebuilt.top, rebuilt.right, rebuilt.bottom, display_angle)
