"""Known answers and round trips for the crop record (lightroom-crop.md)."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cropperhead.geometry import (
    Crop,
    CropFrame,
    corners_to_crop,
    crop_is_inside,
    crop_output_size_px,
    crop_to_corners,
    crop_to_frame,
    frame_to_crop,
    largest_crop,
)


@pytest.mark.parametrize(
    ("size", "crop", "expected"),
    [
        ((6720, 4480), (0.020308, 0.073108, 0.979692, 0.926892, -3.01), (6237.3, 4158.2)),
        ((6000, 4000), (0.335184, 0, 0.664816, 1, 30), (3712.8, 2475.2)),
    ],
)
def test_output_size_known_answers(size, crop, expected):
    w, h = crop_output_size_px(Crop(*crop), *size)
    assert w == pytest.approx(expected[0], abs=0.05)
    assert h == pytest.approx(expected[1], abs=0.05)
    assert crop_is_inside(Crop(*crop), *size)


def test_canon_cr2_matches_lightroom_pixels():
    w, h = crop_output_size_px(Crop(0.020308, 0.073108, 0.979692, 0.926892, -3.01), 6720, 4480)
    assert (round(w), round(h)) == (6237, 4158)


def test_camera_raw_32_known_answer_derived_from_size():
    # Camera Raw 3.2: 3504 x 2336, angle 1.934207, output 3328.4 x 2219.0, centred.
    frame = CropFrame(3504 / 2, 2336 / 2, 3328.4 / 2, 2219.0 / 2, 1.934207)
    crop = frame_to_crop(frame, 3504, 2336)
    assert crop_output_size_px(crop, 3504, 2336) == pytest.approx((3328.4, 2219.0), abs=1e-6)
    assert crop_is_inside(crop, 3504, 2336)
    # A centred 3:2 crop at this angle fits: it is a little smaller than the largest one.
    biggest = largest_crop(3504, 2336, 3328.4 / 2219.0, 1.934207)
    assert crop_output_size_px(biggest, 3504, 2336)[0] > 3328.4
    assert crop.left == pytest.approx(1 - crop.right)
    assert crop.top == pytest.approx(1 - crop.bottom)


def test_corners_of_turned_crop_are_a_rectangle_with_the_right_direction():
    crop = Crop(0.335184, 0, 0.664816, 1, 30)
    tl, tr, br, bl = crop_to_corners(crop, 6000, 4000)
    assert np.allclose(tl, (0.335184 * 6000, 0))
    assert np.allclose(br, (0.664816 * 6000, 4000))
    top = tr - tl
    # Positive angle: the box turns clockwise on the photo (y down), the top edge slopes down.
    assert math.degrees(math.atan2(top[1], top[0])) == pytest.approx(30)
    assert np.dot(tr - tl, bl - tl) == pytest.approx(0, abs=1e-6)


def test_crop_validation_messages_quote_the_value():
    with pytest.raises(ValueError, match="nan"):
        Crop(float("nan"), 0, 1, 1)
    with pytest.raises(ValueError, match="1.5"):
        Crop(0, 0, 1.5, 1)
    with pytest.raises(ValueError, match="50"):
        Crop(0, 0, 1, 1, 50)
    with pytest.raises(TypeError):
        Crop("0", 0, 1, 1)
    with pytest.raises(ValueError, match="lacks right"):
        Crop.from_dict({"left": 0, "top": 0, "bottom": 1})


def test_dict_round_trip_and_full_frame():
    crop = Crop(0.1, 0.2, 0.9, 0.8, -2.5)
    assert Crop.from_dict(crop.to_dict()) == crop
    assert Crop.from_dict({"left": 0, "top": 0, "right": 1, "bottom": 1}).is_full_frame()
    assert not crop.is_full_frame()


def test_inside_check_rejects_corners_outside_and_inverted_boxes():
    # Full frame turned by 5 degrees pokes out of the picture.
    assert not crop_is_inside(Crop(0, 0, 1, 1, 5), 600, 400)
    assert not crop_is_inside(Crop(0.6, 0.2, 0.4, 0.8, 0), 600, 400)
    assert crop_is_inside(Crop.full_frame(), 600, 400)


angles = st.floats(-44.9, 44.9)
fractions = st.floats(0.05, 0.95)


@given(
    cx=fractions,
    cy=fractions,
    aspect=st.floats(0.2, 5),
    angle=angles,
    w=st.integers(10, 8000),
    h=st.integers(10, 8000),
)
def test_largest_crop_touches_the_border_and_stays_inside(cx, cy, aspect, angle, w, h):
    crop = largest_crop(w, h, aspect, angle, (cx * w, cy * h))
    assert crop_is_inside(crop, w, h, tol_px=1e-6 * max(w, h))
    ow, oh = crop_output_size_px(crop, w, h)
    assert ow / oh == pytest.approx(aspect, rel=1e-9)
    pts = crop_to_corners(crop, w, h)
    gap = min(pts[:, 0].min(), w - pts[:, 0].max(), pts[:, 1].min(), h - pts[:, 1].max())
    assert gap == pytest.approx(0, abs=1e-6 * max(w, h))


def test_largest_crop_rejects_bad_arguments():
    with pytest.raises(ValueError, match="aspect"):
        largest_crop(100, 100, 0)
    with pytest.raises(ValueError, match="centre"):
        largest_crop(100, 100, 1, 0, (100, 50))


@given(
    cx=fractions,
    cy=fractions,
    p=st.floats(1, 500),
    q=st.floats(1, 500),
    angle=angles,
    w=st.integers(100, 6000),
    h=st.integers(100, 6000),
)
def test_frame_and_corners_round_trip(cx, cy, p, q, angle, w, h):
    frame = CropFrame(cx * w, cy * h, p, q, angle)
    crop = largest_crop(w, h, p / q, angle, (frame.cx_px, frame.cy_px))
    back = crop_to_frame(crop, w, h)
    assert frame_to_crop(back, w, h).as_array() == pytest.approx(crop.as_array(), abs=1e-9)
    corners = crop_to_corners(crop, w, h)
    again = corners_to_crop(corners, w, h)
    assert again.as_array() == pytest.approx(crop.as_array(), abs=1e-7)
