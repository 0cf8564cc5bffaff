"""Exact crop metrics in the display frame: rotated IoU, boundary displacement, angle error.

IoU is measured in pixels of the display frame (``W' x H'``), so a photo's aspect ratio
counts: the same fractions mean a different overlap on a panorama than on a square.
These are the reference implementations (float64, exact convex clipping); the batched,
differentiable torch versions used in training live in ``boxes.py`` and are tested
against these.
"""

from __future__ import annotations

import numpy as np

from cropperhead.geometry.crop import Crop, crop_to_corners


def polygon_area(poly: np.ndarray) -> float:
    """Area of a simple polygon ``[N, 2]`` by the shoelace formula (0 for N < 3)."""
    if len(poly) < 3:
        return 0.0
    x, y = poly[:, 0], poly[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def _signed_area(poly: np.ndarray) -> float:
    x, y = poly[:, 0], poly[:, 1]
    return float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2


def clip_convex(subject: np.ndarray, clip: np.ndarray) -> np.ndarray:
    """Intersection of two convex polygons (Sutherland-Hodgman).

    Args:
        subject: ``[N, 2]`` convex polygon, either winding.
        clip: ``[M, 2]`` convex polygon, either winding.

    Returns:
        ``[K, 2]`` the intersection polygon (``K == 0`` when they do not overlap).
    """
    if _signed_area(clip) < 0:
        clip = clip[::-1]
    out = np.asarray(subject, dtype=np.float64)
    for i in range(len(clip)):
        if len(out) == 0:
            break
        a, b = clip[i], clip[(i + 1) % len(clip)]
        edge = b - a
        # side > 0: left of the edge, i.e. inside a counter-clockwise (in y-up terms) clip.
        side = edge[0] * (out[:, 1] - a[1]) - edge[1] * (out[:, 0] - a[0])
        kept: list[np.ndarray] = []
        for j in range(len(out)):
            cur, nxt = out[j], out[(j + 1) % len(out)]
            s_cur, s_nxt = side[j], side[(j + 1) % len(out)]
            if s_cur >= 0:
                kept.append(cur)
            if (s_cur >= 0) != (s_nxt >= 0):
                t = s_cur / (s_cur - s_nxt)
                kept.append(cur + t * (nxt - cur))
        out = np.array(kept).reshape(-1, 2)
    return out


def rotated_iou(a: Crop, b: Crop, width_px: float, height_px: float) -> float:
    """Intersection over union of two crops' turned rectangles, in display pixels.

    Args:
        a: a display-frame crop.
        b: another display-frame crop of the same photo.
        width_px: display width W'.
        height_px: display height H'.

    Returns:
        IoU in [0, 1]; 0 when either rectangle has no area.
    """
    pa = crop_to_corners(a, width_px, height_px)
    pb = crop_to_corners(b, width_px, height_px)
    area_a, area_b = polygon_area(pa), polygon_area(pb)
    inter = polygon_area(clip_convex(pa, pb))
    union = area_a + area_b - inter
    if union <= 0:
        return 0.0
    return float(min(max(inter / union, 0.0), 1.0))


def boundary_displacement_error(a: Crop, b: Crop) -> float:
    """Mean absolute displacement of the four edges, as fractions of the display frame.

    The cropping literature's BDE: ``(|dL| + |dT| + |dR| + |dB|) / 4``, each edge
    normalised by the display width or height. 0 is a perfect match.
    """
    return float(np.mean(np.abs(a.as_array()[:4] - b.as_array()[:4])))


def angle_error_deg(a: Crop, b: Crop) -> float:
    """Absolute difference of the straighten angles, in degrees."""
    return abs(a.angle - b.angle)
