"""The crop a darktable history makes, and the params that make a given crop.

Reading: a :class:`Plan` lists the active crop-bearing modules of a history, decoded
(:mod:`~cropperhead.metadata.darktable.params`), in pipe order with darktable's orientation
between them (:func:`cropperhead.metadata.darktable.settings.plan_stages` makes it);
:func:`compose` maps darktable's output frame back through them to a
:class:`~cropperhead.geometry.Crop` in the stored or display frame. Writing:
:func:`crop_to_darktable_params` is the inverse, the ashift and crop params that make a
crop. Both follow each module's own ``distort_backtransform``, as below.

Geometry
--------
Pipe order: darktable's built-in orders (``iop_order.c``: legacy, v3.0, v3.0 JPEG,
v5.0) all run ``ashift`` before ``flip`` and ``flip`` before ``clipping`` before
``crop``; a custom order is read from ``darktable:iop_order_list``. So ``ashift`` works
in the **stored** frame and ``clipping``/``crop`` in the **display** frame (after
darktable's orientation). Each module maps its output back to its input exactly as its
``distort_backtransform`` does, in continuous pixel coordinates:

- ``crop``: a box ``[cx, cw] x [cy, ch]`` of its input (darktable clamps cx, cy to
  [0, 0.9] and cw, ch to [0.1, 1]; so does this reader).
- ``clipping`` rotates its input about the centre by ``angle`` and cuts an axis-aligned
  box out of the rotated image: with ``crop_auto`` (and no keystone) the reference box is
  the largest copy of the input's aspect (or its transpose, whichever is bigger, ties to
  the transpose as darktable does) that fits inside the rotated image; otherwise it is
  the rotated image's bounding box (enlarged, black corners included). cx..ch are
  fractions of that box. An output point ``q`` (centred) comes from input point
  ``centre + M q`` with ``M = [[cos a, sin a], [-sin a, cos a]]``: the output's top edge
  runs along ``(cos a, -sin a)`` on the photo, so **Lightroom's angle is -angle**.
  darktable's own Lightroom importer (``src/develop/lightroom.c``) writes
  ``angle = -CropAngle``, turns the Lightroom corners by CropAngle about the centre and
  divides by the turned photo's bounding box (``crop_auto`` 0): that model round-trips
  through this reader (tested), which confirms sign and box.
- ``ashift`` (``homography()``: swap, rotate by ``phi = +rotation``, swap back) maps
  input to output by ``[[cos, sin], [-sin, cos]]`` about the centre; its output is the
  transformed image's bounding box, cut to ``[cl, cr] x [ct, cb]``. The output's top edge
  runs along ``(cos r, sin r)``: **Lightroom's angle is +rotation**. (Check on the
  fixture: rotation 5.3 with darktable's "largest area" crop touches all four edges of a
  3:2 photo exactly.)
- ``flip`` maps by darktable's orientation bits
  (:data:`~cropperhead.metadata.darktable.params.DT_FLIP_TO_EXIF`).

The four corners of darktable's final output are mapped back through every active
module to the stored frame and then, when ``clipping``/``crop`` is active, forward through
darktable's orientation to the display frame; :func:`~cropperhead.geometry.corners_to_crop`
turns them into ``(left, top, right, bottom, angle)`` (``crop_frame="display"``). With
``ashift`` alone the record stays in the stored frame (``crop_frame="stored"``). Rotations
and crops compose exactly (the composition of similarities is a similarity), so a
composed ashift + clipping + crop is exact too, up to darktable's half-pixel
bookkeeping (~1e-4 of the frame). Angles beyond +-45 degrees (a clipping turned by 90)
are UNSUPPORTED. A mirror (negative clipping cw/ch) keeps the same region; the corners
are renamed as in the unmirrored picture and the mirror is logged and dropped.

What needs the photo: a turned crop (any non-zero ashift rotation or clipping angle)
needs ``image_size``; a display-frame result computed through a turn, or any result
that passes through darktable's orientation from ashift to clipping/crop, needs the
orientation (darktable's own when the history sets it, else ``orientation=``).
Axis-aligned crops need neither: their fractions do not depend on the aspect.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from cropperhead.geometry import (
    MIRRORED,
    Crop,
    check_orientation,
    corners_to_crop,
    crop_to_corners,
    display_size,
    points_display_to_stored,
    points_stored_to_display,
)
from cropperhead.metadata.darktable.params import (
    AshiftParams,
    ClippingParams,
    CropParams,
    ModuleParams,
)
from cropperhead.metadata.types import INVALID_CROP, UNSUPPORTED, SkipError

# The package's name, as before it was split: log lines show it ("WARNING
# cropperhead.metadata.darktable: ...") and a user's logging configuration names it.
logger = logging.getLogger("cropperhead.metadata.darktable")

__all__ = [
    "Perspective",
    "Plan",
    "check_arguments",
    "compose",
    "crop_to_darktable_params",
]

#: ashift's "focal length" default (ashift.c DEFAULT_F_LENGTH).
_ASHIFT_F_LENGTH = 28.0

#: What to do with a perspective correction: drop it (keeping rotation and box) or refuse.
Perspective = Literal["ignore", "skip"]
_Back = Callable[[np.ndarray], np.ndarray]


# --------------------------------------------------------------------------- stages


def _rotation(angle_deg: float) -> tuple[float, float]:
    if angle_deg == 0:
        return 1.0, 0.0
    theta = math.radians(angle_deg)
    return math.cos(theta), math.sin(theta)


def _crop_stage(p: CropParams, w: float, h: float) -> tuple[tuple[float, float], _Back]:
    cx, cy = min(max(p.cx, 0.0), 0.9), min(max(p.cy, 0.0), 0.9)
    cw, ch = min(max(p.cw, 0.1), 1.0), min(max(p.ch, 0.1), 1.0)
    if cw <= cx or ch <= cy:
        raise SkipError(INVALID_CROP, f"darktable crop box {p.cx, p.cy, p.cw, p.ch} is empty")
    offset = np.array([cx * w, cy * h])
    return (w * (cw - cx), h * (ch - cy)), lambda pts: pts + offset


def _clipping_stage(p: ClippingParams, w: float, h: float) -> tuple[tuple[float, float], _Back]:
    c, s = _rotation(p.angle)
    m = np.array([[c, s], [-s, c]])  # output (centred) -> input, as backtransform()
    if p.cw < 0:
        m[:, 0] = -m[:, 0]
    if p.ch < 0:
        m[:, 1] = -m[:, 1]
    cx, cy = min(max(p.cx, 0.0), 0.9), min(max(p.cy, 0.0), 0.9)
    cw, ch = min(max(abs(p.cw), 0.1), 1.0), min(max(abs(p.ch), 0.1), 1.0)
    if cw <= cx or ch <= cy:
        raise SkipError(INVALID_CROP, f"darktable clipping box {p.cx, p.cy, p.cw, p.ch} is empty")
    ac, as_ = abs(c), abs(s)
    if p.crop_auto == 1 and not p.quad_keystone:
        # Largest copy of the input's aspect (or its transpose) inside the turned image.
        best, half = -1.0, (0.0, 0.0)
        for bw, bh in ((w, h), (h, w)):
            scale = min(1.0, bw / (ac * w + as_ * h), bh / (as_ * w + ac * h))
            if scale >= best:
                best, half = scale, (scale * bw / 2, scale * bh / 2)
        x0, x1, y0, y1 = -half[0], half[0], -half[1], half[1]
    else:
        # Bounding box of the turned image, with modify_roi_out's clamps.
        ex, ey = ac * w / 2 + as_ * h / 2, as_ * w / 2 + ac * h / 2
        left, right = max(w / 2 - ex, -w), min(w / 2 + ex, 2 * w)
        top, bottom = max(h / 2 - ey, -h), min(h / 2 + ey, 2 * h)
        x0, x1, y0, y1 = left - w / 2, right - w / 2, top - h / 2, bottom - h / 2
    bx0, bx1 = x0 + cx * (x1 - x0), x0 + cw * (x1 - x0)
    by0, by1 = y0 + cy * (y1 - y0), y0 + ch * (y1 - y0)
    origin, centre = np.array([bx0, by0]), np.array([w / 2, h / 2])
    return (bx1 - bx0, by1 - by0), lambda pts: (pts + origin) @ m.T + centre


def _ashift_stage(p: AshiftParams, w: float, h: float) -> tuple[tuple[float, float], _Back]:
    c, s = _rotation(p.rotation)
    bw, bh = abs(c) * w + abs(s) * h, abs(s) * w + abs(c) * h
    if not (0 <= p.cl < p.cr <= 1 and 0 <= p.ct < p.cb <= 1):
        raise SkipError(
            INVALID_CROP, f"darktable ashift crop {p.cl, p.ct, p.cr, p.cb} is not a box in [0, 1]"
        )
    inverse = np.array([[c, -s], [s, c]])  # output (centred) -> input
    origin = np.array([p.cl * bw - bw / 2, p.ct * bh - bh / 2])
    centre = np.array([w / 2, h / 2])
    size = (bw * (p.cr - p.cl), bh * (p.cb - p.ct))
    return size, lambda pts: (pts + origin) @ inverse.T + centre


def _flip_stage(exif: int, w: float, h: float) -> tuple[tuple[float, float], _Back]:
    return display_size(w, h, exif), lambda pts: points_display_to_stored(pts, w, h, exif)


# --------------------------------------------------------------------------- composing


@dataclass
class Plan:
    """The active crop-bearing modules, decoded, in pipe order, with the flip between."""

    stages: list[tuple[str, ModuleParams | None]]  # ("flip", None) marks darktable's flip
    flip_exif: int | None  # darktable's own orientation (None: automatic)
    flip_known: bool  # False when the flip entry could not be decoded


def _turns(params: ModuleParams | None) -> bool:
    if isinstance(params, ClippingParams):
        return params.angle != 0
    if isinstance(params, AshiftParams):
        return params.rotation != 0
    return False


def compose(
    plan: Plan,
    image_size: tuple[float, float] | None,
    orientation: int | None,
) -> tuple[Crop, Literal["stored", "display"]]:
    """The crop the planned stages make, and the frame it is in (see the module docstring).

    Args:
        plan: the stages, with at least one crop-bearing module.
        image_size: the photo's stored ``(width, height)``; needed for turned crops.
        orientation: the photo's EXIF orientation, used where darktable's is automatic.

    Raises:
        SkipError: UNSUPPORTED for a missing size or orientation the crop needs, or a turn
            beyond 45 degrees; INVALID_CROP for a crop outside the photo or an empty box.
    """
    names = [name for name, _ in plan.stages]
    flip_at = names.index("flip")
    before, after = names[:flip_at], names[flip_at + 1 :]
    # Nothing after darktable's orientation: the crop stays in the stored frame.
    stages = plan.stages if after else plan.stages[:flip_at]
    turned = [n for n, p in stages if _turns(p)]
    exif = plan.flip_exif if plan.flip_exif is not None else orientation
    if turned and image_size is None:
        raise SkipError(
            UNSUPPORTED,
            f"darktable {'/'.join(turned)} turns the picture: the photo's size is needed",
        )
    if after and (before or turned) and (exif is None or not plan.flip_known):
        raise SkipError(
            UNSUPPORTED,
            f"darktable {'/'.join(after)} works after the automatic orientation: "
            "the photo's EXIF orientation is needed",
        )
    width, height = image_size if image_size is not None else (1.0, 1.0)
    exif = exif if exif is not None and plan.flip_known else 1
    # Forward pass: each stage's input size and its way back.
    backs: list[_Back] = []
    w, h = float(width), float(height)
    for name, params in stages:
        if name == "flip":
            (w2, h2), back = _flip_stage(exif, w, h)
        elif isinstance(params, AshiftParams):
            (w2, h2), back = _ashift_stage(params, w, h)
        elif isinstance(params, ClippingParams):
            (w2, h2), back = _clipping_stage(params, w, h)
        elif isinstance(params, CropParams):
            (w2, h2), back = _crop_stage(params, w, h)
        else:  # pragma: no cover - plan_stages only stages the modules above
            raise TypeError(f"no stage for {name!r}")
        backs.append(back)
        w, h = w2, h2
    corners = np.array([[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]])
    for back in reversed(backs):
        corners = back(corners)
    if after:
        frame: Literal["stored", "display"] = "display"
        corners = points_stored_to_display(corners, width, height, exif)
        fw, fh = display_size(width, height, exif)
    else:
        frame, fw, fh = "stored", width, height
    tl, tr, _br, bl = corners
    handed = (tr[0] - tl[0]) * (bl[1] - tl[1]) - (tr[1] - tl[1]) * (bl[0] - tl[0])
    if handed < 0:
        logger.info("darktable clipping mirrors the picture; the mirror is dropped")
        corners = corners[[1, 0, 3, 2]]
    return _to_crop(corners, fw, fh), frame


def _to_crop(corners: np.ndarray, width: float, height: float) -> Crop:
    pts = np.asarray(corners, dtype=np.float64)
    direction = (pts[1] - pts[0]) + (pts[2] - pts[3])
    angle = math.degrees(math.atan2(direction[1], direction[0]))
    if abs(angle) > 45 + 1e-6:
        raise SkipError(UNSUPPORTED, f"darktable turns the picture by {angle:.6g} degrees")
    edges = [pts[0, 0] / width, pts[0, 1] / height, pts[2, 0] / width, pts[2, 1] / height]
    # Float32 params composed in float64: snap dust at the frame's edges.
    edges = [min(max(v, 0.0), 1.0) if -1e-6 <= v <= 1 + 1e-6 else v for v in edges]
    if any(not 0 <= v <= 1 for v in edges):
        shown = ", ".join(f"{v:.6g}" for v in edges)
        raise SkipError(INVALID_CROP, f"darktable crop reaches outside the photo: {shown}")
    snapped = pts.copy()
    snapped[0] = (edges[0] * width, edges[1] * height)
    snapped[2] = (edges[2] * width, edges[3] * height)
    try:
        return corners_to_crop(snapped, width, height)
    except ValueError as exc:
        raise SkipError(INVALID_CROP, str(exc)) from exc


# --------------------------------------------------------------------------- arguments


def check_arguments(
    image_size: tuple[float, float] | None, orientation: int | None, perspective: str
) -> None:
    """``ValueError`` for a size that is not two positive numbers, a bad orientation or policy."""
    if image_size is not None:
        try:
            w, h = image_size
            ok = all(math.isfinite(float(v)) and float(v) > 0 for v in (w, h))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"image_size must be (width, height) > 0, got {image_size!r}")
    if orientation is not None:
        check_orientation(orientation)
    if perspective not in ("ignore", "skip"):
        raise ValueError(f"perspective must be 'ignore' or 'skip', got {perspective!r}")


# --------------------------------------------------------------------------- writing


def crop_to_darktable_params(
    crop: Crop, image_size: tuple[float, float], orientation: int
) -> tuple[AshiftParams | None, CropParams]:
    """The ashift and crop params that make ``crop`` (inverse of the reader's geometry).

    Args:
        crop: the crop in darktable's **display** frame (the stored frame shown with
            ``orientation``), fractions of that frame, Lightroom's angle.
        image_size: the photo's stored ``(width, height)``.
        orientation: darktable's orientation of the photo (EXIF code 1..8).

    Returns:
        ``(ashift, crop)``: ashift turns the stored frame by the stored-frame angle (None
        for an unturned crop) and keeps its whole bounding box; crop cuts the box out of
        what darktable shows after its orientation, freehand (ratio 0:0).

    Raises:
        ValueError: bad ``image_size`` or ``orientation``.
    """
    if not isinstance(crop, Crop):
        raise TypeError(f"crop must be a Crop, got {crop!r}")
    check_orientation(orientation)
    check_arguments(image_size, orientation, "ignore")
    w, h = float(image_size[0]), float(image_size[1])
    angle = -crop.angle if orientation in MIRRORED else crop.angle
    if angle == 0:
        return None, CropParams(crop.left, crop.top, crop.right, crop.bottom, 0, 0)
    dw, dh = display_size(w, h, orientation)
    corners = points_display_to_stored(crop_to_corners(crop, dw, dh), w, h, orientation)
    c, s = _rotation(angle)
    bw, bh = abs(c) * w + abs(s) * h, abs(s) * w + abs(c) * h
    inverse = np.array([[c, -s], [s, c]])  # output (centred) -> input, as _ashift_stage
    turned = (corners - [w / 2, h / 2]) @ inverse + [bw / 2, bh / 2]
    shown = points_stored_to_display(turned, bw, bh, orientation)
    sw, sh = display_size(bw, bh, orientation)
    lo = np.clip(shown.min(axis=0) / [sw, sh], 0.0, 1.0)
    hi = np.clip(shown.max(axis=0) / [sw, sh], 0.0, 1.0)
    ashift = AshiftParams(
        angle, 0.0, 0.0, 0.0, _ASHIFT_F_LENGTH, 1.0, 100.0, 1.0, 0, 0, 0.0, 1.0, 0.0, 1.0
    )
    return ashift, CropParams(float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]), 0, 0)
