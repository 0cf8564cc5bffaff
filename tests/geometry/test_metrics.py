"""Exact rotated IoU, BDE and angle error against hand-worked cases and a pixel count."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cropperhead.geometry import (
    Crop,
    angle_error_deg,
    boundary_displacement_error,
    crop_to_corners,
    largest_crop,
    rotated_iou,
)
from cropperhead.geometry.metrics import clip_convex, polygon_area


def test_identical_and_disjoint():
    a = Crop(0.1, 0.1, 0.5, 0.6, 3)
    assert rotated_iou(a, a, 300, 200) == pytest.approx(1)
    b, c = Crop(0, 0, 0.3, 0.3), Crop(0.5, 0.5, 1, 1)
    assert rotated_iou(b, c, 300, 200) == 0


def test_hand_worked_axis_aligned():
    # [0, 0.5] x [0, 1] against [0.25, 0.75] x [0, 1] on a 200 x 100 image:
    # intersection 50 x 100, union 150 x 100.
    a, b = Crop(0, 0, 0.5, 1), Crop(0.25, 0, 0.75, 1)
    assert rotated_iou(a, b, 200, 100) == pytest.approx(1 / 3)


def test_aspect_ratio_counts():
    # Same fractions: a horizontal shift costs differently on a wide and on a tall photo
    # once the crop is turned.
    a, b = Crop(0.2, 0.2, 0.6, 0.6, 10), Crop(0.25, 0.2, 0.65, 0.6, 10)
    assert rotated_iou(a, b, 4000, 1000) != pytest.approx(rotated_iou(a, b, 1000, 4000))


def test_turned_square_against_itself_unturned():
    # A centred square turned by 45 degrees inside the same unturned square: the
    # octagon's area is 2 (sqrt 2 - 1) s^2 for side s... computed from geometry.
    big = largest_crop(100, 100, 1.0, 0.0)
    turned = largest_crop(100, 100, 1.0, 45.0)
    inter = polygon_area(
        clip_convex(crop_to_corners(big, 100, 100), crop_to_corners(turned, 100, 100))
    )
    # The turned square of half diagonal 50 fits exactly: it lies wholly inside.
    assert inter == pytest.approx(polygon_area(crop_to_corners(turned, 100, 100)))
    assert rotated_iou(big, turned, 100, 100) == pytest.approx(0.5)


def _pixel_iou(a: Crop, b: Crop, w: int, h: int, n: int = 400) -> float:
    xs = (np.arange(n) + 0.5) / n * w
    ys = (np.arange(n) + 0.5) / n * h
    gx, gy = np.meshgrid(xs, ys)
    pts = np.stack([gx.ravel(), gy.ravel()], -1)

    def inside(c: Crop) -> np.ndarray:
        corners = crop_to_corners(c, w, h)
        e1, e2 = corners[1] - corners[0], corners[3] - corners[0]
        rel = pts - corners[0]
        s, t = rel @ e1 / (e1 @ e1), rel @ e2 / (e2 @ e2)
        return (s >= 0) & (s <= 1) & (t >= 0) & (t <= 1)

    ia, ib = inside(a), inside(b)
    union = (ia | ib).sum()
    return float((ia & ib).sum() / union) if union else 0.0


def _random_crop(rng: np.random.Generator, w: int, h: int) -> Crop:
    angle = rng.uniform(-30, 30)
    big = largest_crop(
        w, h, rng.uniform(0.5, 2), angle, (rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h)
    )
    arr = big.as_array()
    mid = (arr[:2] + arr[2:4]) / 2
    s = rng.uniform(0.4, 1)
    lt, rb = mid + s * (arr[:2] - mid), mid + s * (arr[2:4] - mid)
    return Crop(lt[0], lt[1], rb[0], rb[1], angle)


@pytest.mark.parametrize("seed", range(8))
def test_agrees_with_a_pixel_count(seed):
    rng = np.random.default_rng(seed)
    w, h = int(rng.integers(200, 800)), int(rng.integers(200, 800))
    a, b = _random_crop(rng, w, h), _random_crop(rng, w, h)
    assert rotated_iou(a, b, w, h) == pytest.approx(_pixel_iou(a, b, w, h), abs=0.01)


@settings(max_examples=60)
@given(seed=st.integers(0, 10_000))
def test_symmetric_and_bounded(seed):
    rng = np.random.default_rng(seed)
    a, b = _random_crop(rng, 640, 480), _random_crop(rng, 640, 480)
    ab, ba = rotated_iou(a, b, 640, 480), rotated_iou(b, a, 640, 480)
    assert ab == pytest.approx(ba, abs=1e-12)
    assert 0 <= ab <= 1


def test_bde_and_angle_error():
    a, b = Crop(0.1, 0.2, 0.9, 0.8, 2), Crop(0.2, 0.2, 0.9, 0.6, -1)
    assert boundary_displacement_error(a, b) == pytest.approx((0.1 + 0 + 0 + 0.2) / 4)
    assert boundary_displacement_error(a, a) == 0
    assert angle_error_deg(a, b) == pytest.approx(3)
