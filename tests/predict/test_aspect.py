import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cropperhead.geometry import (
    Crop,
    CropFrame,
    crop_is_inside,
    crop_output_size_px,
    crop_to_frame,
    frame_to_crop,
    largest_crop,
)
from cropperhead.predict.aspect import parse_aspect, snap_crop_to_aspect

RATIOS = [3 / 2, 2 / 3, 4 / 5, 5 / 4, 1.0, 16 / 9, 9 / 16, 1.91]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("free", None),
        (None, None),
        ("original", "original"),
        ("3:2", 1.5),
        ("2:3", 2 / 3),
        ("16:9", 16 / 9),
        ("1.91:1", 1.91),
        ("4x5", 0.8),
        (" 1 : 1 ", 1.0),
    ],
)
def test_parse_aspect(text, expected):
    assert parse_aspect(text) == expected


@pytest.mark.parametrize("bad", ["wide", "3:0", "0:2", "-3:2", "3:", "3:2:1"])
def test_parse_aspect_refuses_bad_values(bad):
    with pytest.raises(ValueError, match="aspect"):
        parse_aspect(bad)


def _crop(width, height, out_aspect, angle, cx, cy, scale):
    """A valid crop: the largest of its aspect at (cx, cy), shrunk by ``scale``."""
    big = largest_crop(width, height, out_aspect, angle, (cx * width, cy * height))
    f = crop_to_frame(big, width, height)
    frame = CropFrame(f.cx_px, f.cy_px, f.half_width_px * scale, f.half_height_px * scale, angle)
    return frame_to_crop(frame, width, height)


@settings(max_examples=300, deadline=None)
@given(
    width=st.integers(40, 9000),
    height=st.integers(40, 9000),
    out_aspect=st.floats(0.4, 2.5),
    angle=st.floats(-15, 15),
    cx=st.floats(0.15, 0.85),
    cy=st.floats(0.15, 0.85),
    scale=st.floats(0.1, 1.0),
    ratio=st.sampled_from(RATIOS),
)
def test_snapped_crop_is_inside_exact_ratio_same_angle_and_centre(
    width, height, out_aspect, angle, cx, cy, scale, ratio
):
    crop = _crop(width, height, out_aspect, angle, cx, cy, scale)
    snapped = snap_crop_to_aspect(crop, width, height, ratio)
    tol = 1e-6 * max(width, height)
    assert crop_is_inside(snapped, width, height, tol_px=tol)
    out_w, out_h = crop_output_size_px(snapped, width, height)
    assert out_w / out_h == pytest.approx(ratio, rel=1e-7)
    assert snapped.angle == crop.angle
    before, after = crop_to_frame(crop, width, height), crop_to_frame(snapped, width, height)
    assert after.cx_px == pytest.approx(before.cx_px, abs=tol)
    assert after.cy_px == pytest.approx(before.cy_px, abs=tol)
    # Never larger than the prediction; equal in area unless the photo's edge stops it.
    area_before = before.half_width_px * before.half_height_px
    area_after = after.half_width_px * after.half_height_px
    assert area_after <= area_before * (1 + 1e-7)
    if area_after < area_before * (1 - 1e-7):
        cap = largest_crop(width, height, ratio, angle, (before.cx_px, before.cy_px))
        assert after.half_height_px == pytest.approx(
            crop_to_frame(cap, width, height).half_height_px, rel=1e-7
        )


def test_snapping_to_the_crop_own_ratio_changes_nothing():
    crop = _crop(6000, 4000, 1.5, 3.0, 0.45, 0.55, 0.7)
    out_w, out_h = crop_output_size_px(crop, 6000, 4000)
    snapped = snap_crop_to_aspect(crop, 6000, 4000, out_w / out_h)
    for a, b in zip(crop.as_array(), snapped.as_array(), strict=True):
        assert a == pytest.approx(b, abs=1e-9)


def test_full_frame_to_square_keeps_centre_and_height():
    snapped = snap_crop_to_aspect(Crop.full_frame(), 6000, 4000, 1.0)
    # Same area would be 4899 px wide; the photo is only 4000 high, so the cap wins.
    assert snapped.top == pytest.approx(0)
    assert snapped.bottom == pytest.approx(1)
    assert (snapped.left + snapped.right) / 2 == pytest.approx(0.5)
    assert (snapped.right - snapped.left) * 6000 == pytest.approx(4000)


def test_refuses_bad_ratio():
    with pytest.raises(ValueError, match="ratio"):
        snap_crop_to_aspect(Crop.full_frame(), 10, 10, 0.0)
    with pytest.raises(ValueError, match="ratio"):
        snap_crop_to_aspect(Crop.full_frame(), 10, 10, math.nan)
