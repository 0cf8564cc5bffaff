"""Batched, differentiable crop geometry on torch tensors.

Crops are ``[N, 5]`` tensors with the record's column order ``(left, top, right,
bottom, angle_deg)``, display frame, fractions of the display size. Frame sizes are
``[N]`` tensors (or floats): only the aspect matters for IoU, so ``(W'/H', 1)`` works as
well as pixels. Every function is elementwise over the batch (pairs, not an ``N x M``
matrix) and differentiable almost everywhere, so losses can use them; the float64
references in ``metrics.py`` check them.

For crops with angle 0 these reduce exactly to torchvision's ``box_iou``,
``generalized_box_iou``, ``distance_box_iou`` and ``complete_box_iou`` on the boxes
``(L W', T H', R W', B H')``; the tests hold them to that.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

_EPS = 1e-7


def _as_batch(value: Tensor | float, like: Tensor) -> Tensor:
    t = torch.as_tensor(value, dtype=like.dtype, device=like.device)
    return t.expand(like.shape[:-1]) if t.ndim == 0 else t


def crop_to_frame(crops: Tensor, width: Tensor | float, height: Tensor | float) -> Tensor:
    """Crops to ``(cx, cy, p, q, theta_rad)`` in the units of ``width``/``height``.

    Args:
        crops: ``[N, 5]`` display-frame crops.
        width: ``[N]`` or scalar frame width.
        height: ``[N]`` or scalar frame height.

    Returns:
        ``[N, 5]``: centre, half output width ``p``, half output height ``q`` (negative
        when the corners do not make a picture turned by the angle) and the angle in
        radians.
    """
    w, h = _as_batch(width, crops), _as_batch(height, crops)
    left, top, right, bottom, angle = crops.unbind(-1)
    theta = torch.deg2rad(angle)
    cos, sin = torch.cos(theta), torch.sin(theta)
    half_dx = (right - left) / 2 * w
    half_dy = (bottom - top) / 2 * h
    p = half_dx * cos + half_dy * sin
    q = -half_dx * sin + half_dy * cos
    return torch.stack([(left + right) / 2 * w, (top + bottom) / 2 * h, p, q, theta], -1)


def frame_to_crop(frames: Tensor, width: Tensor | float, height: Tensor | float) -> Tensor:
    """Inverse of :func:`crop_to_frame`: ``[N, 5]`` frames to ``[N, 5]`` crops."""
    w, h = _as_batch(width, frames), _as_batch(height, frames)
    cx, cy, p, q, theta = frames.unbind(-1)
    cos, sin = torch.cos(theta), torch.sin(theta)
    # TL = c - p u - q v, BR = c + p u + q v with u = (cos, sin), v = (-sin, cos).
    dx = p * cos - q * sin
    dy = p * sin + q * cos
    return torch.stack(
        [(cx - dx) / w, (cy - dy) / h, (cx + dx) / w, (cy + dy) / h, torch.rad2deg(theta)], -1
    )


def mean_crops(a: Tensor, b: Tensor, width: Tensor | float, height: Tensor | float) -> Tensor:
    """The crop halfway between two valid crops, itself inside the photo.

    Centres, angles and the logs of the half sizes are averaged (so two crops of the
    same aspect give that aspect). Where crops turned by different angles average to one
    that would leave the photo, it is shrunk about its centre until its bounding box
    fits, and its centre moved in until all four corners lie inside: the test-time
    mirror average of :mod:`cropperhead.predict.predictor` relies on this.

    Args:
        a: ``[N, 5]`` display-frame crops, inside the photo.
        b: ``[N, 5]`` the same.
        width: ``[N]`` or scalar frame width.
        height: ``[N]`` or scalar frame height.

    Returns:
        ``[N, 5]`` crops inside the photo.
    """
    w, h = _as_batch(width, a), _as_batch(height, a)
    fa, fb = crop_to_frame(a, w, h), crop_to_frame(b, w, h)
    cx, cy, theta = [(fa[:, i] + fb[:, i]) / 2 for i in (0, 1, 4)]
    p = torch.sqrt(fa[:, 2].clamp_min(_EPS) * fb[:, 2].clamp_min(_EPS))
    q = torch.sqrt(fa[:, 3].clamp_min(_EPS) * fb[:, 3].clamp_min(_EPS))
    cos, sin = torch.cos(theta), torch.sin(theta).abs()
    ex, ey = p * cos + q * sin, p * sin + q * cos
    shrink = torch.minimum(w / 2 / ex, h / 2 / ey).clamp(max=1.0) * (1 - 1e-9)
    p, q, ex, ey = p * shrink, q * shrink, ex * shrink, ey * shrink
    cx = torch.minimum(torch.maximum(cx, ex), w - ex)
    cy = torch.minimum(torch.maximum(cy, ey), h - ey)
    out = frame_to_crop(torch.stack([cx, cy, p, q, theta], -1), w, h)
    return torch.cat([out[:, :4].clamp(0, 1), out[:, 4:]], -1)


def crop_to_corners(
    crops: Tensor, width: Tensor | float = 1.0, height: Tensor | float = 1.0
) -> Tensor:
    """Corners TL, TR, BR, BL of each crop's output picture.

    Args:
        crops: ``[N, 5]`` display-frame crops.
        width: ``[N]`` or scalar frame width (1: coordinates normalised by W').
        height: ``[N]`` or scalar frame height.

    Returns:
        ``[N, 4, 2]`` corners in the units of ``width``/``height``. Turned corners are
        computed with the true aspect only when real sizes are given.
    """
    w, h = _as_batch(width, crops), _as_batch(height, crops)
    cx, cy, p, q, theta = crop_to_frame(crops, w, h).unbind(-1)
    u = torch.stack([torch.cos(theta), torch.sin(theta)], -1)  # [N, 2]
    v = torch.stack([-torch.sin(theta), torch.cos(theta)], -1)
    c = torch.stack([cx, cy], -1)
    pu, qv = p[:, None] * u, q[:, None] * v
    return torch.stack([c - pu - qv, c + pu - qv, c + pu + qv, c - pu + qv], 1)


def _cross(a: Tensor, b: Tensor) -> Tensor:
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def _inside_rect(points: Tensor, rect: Tensor, tol: Tensor) -> Tensor:
    """``[N, K]`` mask of points ``[N, K, 2]`` inside rectangles ``[N, 4, 2]``."""
    origin = rect[:, None, 0]
    e1 = (rect[:, 1] - rect[:, 0])[:, None]
    e2 = (rect[:, 3] - rect[:, 0])[:, None]
    rel = points - origin
    a = (rel * e1).sum(-1)
    b = (rel * e2).sum(-1)
    n1 = (e1 * e1).sum(-1)
    n2 = (e2 * e2).sum(-1)
    slack1, slack2 = tol[:, None] * n1.sqrt(), tol[:, None] * n2.sqrt()
    return (a >= -slack1) & (a <= n1 + slack1) & (b >= -slack2) & (b <= n2 + slack2)


def polygon_intersection_area(ca: Tensor, cb: Tensor) -> Tensor:
    """Area of the intersection of two batches of rectangles.

    Args:
        ca: ``[N, 4, 2]`` rectangle corners in order (either winding).
        cb: ``[N, 4, 2]`` rectangle corners in order.

    Returns:
        ``[N]`` intersection areas. The vertices of the (convex) intersection are the
        corners of each rectangle inside the other plus the edge crossings; they are
        sorted by angle around their mean and summed with the shoelace formula, so the
        area is differentiable in the corners almost everywhere.
    """
    n = ca.shape[0]
    scale = torch.maximum(ca.flatten(1).abs().amax(1), cb.flatten(1).abs().amax(1)).clamp_min(1.0)
    # Corners on the other rectangle's border count as inside, up to float rounding.
    tol = 64 * torch.finfo(ca.dtype).eps * scale
    in_a = _inside_rect(cb, ca, tol)  # corners of b inside a, [N, 4]
    in_b = _inside_rect(ca, cb, tol)
    # Edge crossings: every edge of a against every edge of b, [N, 4, 4].
    a0, a1 = ca, ca.roll(-1, dims=1)
    b0, b1 = cb, cb.roll(-1, dims=1)
    da = (a1 - a0)[:, :, None]  # [N, 4, 1, 2]
    db = (b1 - b0)[:, None]  # [N, 1, 4, 2]
    ab = b0[:, None] - a0[:, :, None]  # [N, 4, 4, 2]
    den = _cross(da, db)
    parallel = den.abs() <= 1e-12 * scale[:, None, None] ** 2
    safe = torch.where(parallel, torch.ones_like(den), den)
    t = _cross(ab, db) / safe
    s = _cross(ab, da) / safe
    hit = (~parallel) & (t >= 0) & (t <= 1) & (s >= 0) & (s <= 1)
    crossings = a0[:, :, None] + t[..., None] * da  # [N, 4, 4, 2]
    points = torch.cat([ca, cb, crossings.reshape(n, 16, 2)], 1)  # [N, 24, 2]
    valid = torch.cat([in_b, in_a, hit.reshape(n, 16)], 1)  # [N, 24]
    count = valid.sum(1)
    weights = valid.to(points.dtype)
    centre = (points * weights[..., None]).sum(1) / count.clamp_min(1)[:, None].to(points.dtype)
    rel = points - centre[:, None]
    ang = torch.atan2(rel[..., 1], rel[..., 0])
    ang = torch.where(valid, ang, torch.full_like(ang, 10.0))  # invalid points sort last
    order = ang.argsort(1)
    sorted_pts = points.gather(1, order[..., None].expand(-1, -1, 2))
    sorted_valid = valid.gather(1, order)
    first = sorted_pts[:, :1].expand_as(sorted_pts)
    sorted_pts = torch.where(sorted_valid[..., None], sorted_pts, first)
    area = _cross(sorted_pts, sorted_pts.roll(-1, dims=1)).sum(1).abs() / 2
    return torch.where(count >= 3, area, torch.zeros_like(area))


def _rect_area(corners: Tensor) -> Tensor:
    e1 = corners[:, 1] - corners[:, 0]
    e2 = corners[:, 3] - corners[:, 0]
    return _cross(e1, e2).abs()


def rotated_iou(a: Tensor, b: Tensor, width: Tensor | float, height: Tensor | float) -> Tensor:
    """Elementwise IoU ``[N]`` of two batches of ``[N, 5]`` display-frame crops."""
    return crop_iou_family(a, b, width, height, "iou")


def crop_iou_family(
    a: Tensor,
    b: Tensor,
    width: Tensor | float,
    height: Tensor | float,
    kind: str = "iou",
) -> Tensor:
    """IoU, GIoU, DIoU or CIoU of turned crops, elementwise.

    The enclosing box of GIoU and DIoU is the smallest box around both rectangles with
    the orientation of ``b`` (the target): it contains their union, so GIoU stays a lower
    bound of IoU, and it is ``b`` itself when ``a == b``, so identical crops score 1.
    For unturned targets it is the usual axis-aligned box. Hence GIoU/DIoU/CIoU are not
    symmetric for turned crops; IoU is. CIoU's aspect term uses the output pictures'
    sizes ``2p x 2q``.

    Args:
        a: ``[N, 5]`` predicted crops.
        b: ``[N, 5]`` target crops.
        width: ``[N]`` or scalar display width (or aspect).
        height: ``[N]`` or scalar display height (or 1).
        kind: ``iou``, ``giou``, ``diou`` or ``ciou``.

    Returns:
        ``[N]`` values in [-1, 1] (``iou`` in [0, 1]); 1 means identical crops.

    Raises:
        ValueError: unknown ``kind``.
    """
    if kind not in ("iou", "giou", "diou", "ciou"):
        raise ValueError(f"kind must be one of iou, giou, diou, ciou, got {kind!r}")
    ca, cb = crop_to_corners(a, width, height), crop_to_corners(b, width, height)
    inter = polygon_intersection_area(ca, cb)
    union = (_rect_area(ca) + _rect_area(cb) - inter).clamp_min(_EPS)
    iou = inter / union
    if kind == "iou":
        return iou
    # The enclosing box is aligned with b (the target): it is the smallest box of b's
    # orientation around both, so it is b itself when a == b (GIoU = 1).
    theta_b = torch.deg2rad(b[:, 4])[:, None]
    cos, sin = torch.cos(theta_b), torch.sin(theta_b)
    both = torch.cat([ca, cb], 1)  # [N, 8, 2]
    aligned = torch.stack(
        [both[..., 0] * cos + both[..., 1] * sin, -both[..., 0] * sin + both[..., 1] * cos], -1
    )
    lo, hi = aligned.amin(1), aligned.amax(1)
    if kind == "giou":
        enclosing = ((hi - lo).prod(-1)).clamp_min(_EPS)
        return iou - (enclosing - union) / enclosing
    diag2 = ((hi - lo) ** 2).sum(-1).clamp_min(_EPS)
    centre_dist2 = ((ca.mean(1) - cb.mean(1)) ** 2).sum(-1)
    diou = iou - centre_dist2 / diag2
    if kind == "diou":
        return diou
    fa, fb = crop_to_frame(a, width, height), crop_to_frame(b, width, height)
    ratio_a = torch.atan(fa[:, 2] / fa[:, 3].clamp_min(_EPS))
    ratio_b = torch.atan(fb[:, 2] / fb[:, 3].clamp_min(_EPS))
    v = (4 / math.pi**2) * (ratio_b - ratio_a) ** 2
    with torch.no_grad():
        alpha = v / (1 - iou + v + _EPS)
    return diou - alpha * v


def boundary_displacement_error(a: Tensor, b: Tensor) -> Tensor:
    """``[N]`` mean absolute edge displacement (fractions of the display frame)."""
    return (a[:, :4] - b[:, :4]).abs().mean(-1)


def angle_error_deg(a: Tensor, b: Tensor) -> Tensor:
    """``[N]`` absolute angle difference in degrees."""
    return (a[:, 4] - b[:, 4]).abs()


def crop_aspect_class(
    crops: Tensor, aspect: Tensor, allowed: Tensor | None = None, tolerance: float = 0.01
) -> Tensor:
    """The aspect class index of each crop (:mod:`cropperhead.geometry.aspect`), batched.

    Args:
        crops: ``[N, 5]`` display-frame crops.
        aspect: ``[N]`` photo width / height.
        allowed: ``[K]`` bool, the classes of the photographer's habit; a crop of another
            class counts as ``free`` (index 0). None: all.
        tolerance: relative aspect difference that still counts as the same ratio.

    Returns:
        ``[N]`` int64 indices into :data:`~cropperhead.geometry.aspect.ASPECT_CLASSES`.
    """
    from cropperhead.geometry.aspect import ASPECT_CLASSES, ORIGINAL, RATIOS

    frame = crop_to_frame(crops.double(), aspect.double(), 1.0)
    crop_aspect = (frame[:, 2] / frame[:, 3]).abs().clamp_min(_EPS)
    log_tol = math.log1p(tolerance)
    long_short = torch.maximum(crop_aspect, 1 / crop_aspect)
    index = torch.zeros_like(crops[:, 0], dtype=torch.int64)
    # Named ratios first, then ``original``, which wins where both match.
    for i, name in enumerate(ASPECT_CLASSES):
        if name in RATIOS:
            hit = (torch.log(long_short / RATIOS[name])).abs() <= log_tol
            index = torch.where(hit, torch.full_like(index, i), index)
    original = (torch.log(crop_aspect / aspect.double())).abs() <= log_tol
    index = torch.where(original, torch.full_like(index, ASPECT_CLASSES.index(ORIGINAL)), index)
    if allowed is not None:
        index = torch.where(allowed.to(index.device)[index], index, torch.zeros_like(index))
    return index


def is_full_frame(crops: Tensor, tolerance: float = 1e-6) -> Tensor:
    """``[N]`` bool: the crop is the whole photo, unturned (a photo left uncropped)."""
    full = torch.tensor([0.0, 0.0, 1.0, 1.0, 0.0], dtype=crops.dtype, device=crops.device)
    return ((crops - full).abs() <= tolerance).all(-1)
