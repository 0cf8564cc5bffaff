"""Stored <-> display conversions for all eight EXIF orientations."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cropperhead.geometry import (
    MIRRORED,
    ORIENTATIONS,
    Crop,
    check_orientation,
    corners_stored_to_display,
    crop_display_to_stored,
    crop_is_inside,
    crop_stored_to_display,
    crop_to_corners,
    display_size,
    largest_crop,
    points_display_to_stored,
    points_stored_to_display,
)

W, H = 6000, 4000


@pytest.mark.parametrize(
    ("orientation", "expected", "size"),
    [
        (1, (10, 20), (W, H)),
        (2, (W - 10, 20), (W, H)),
        (3, (W - 10, H - 20), (W, H)),
        (4, (10, H - 20), (W, H)),
        (5, (20, 10), (H, W)),
        (6, (H - 20, 10), (H, W)),
        (7, (H - 20, W - 10), (H, W)),
        (8, (20, W - 10), (H, W)),
    ],
)
def test_point_table_of_lightroom_crop_md(orientation, expected, size):
    assert tuple(points_stored_to_display(np.array([10.0, 20.0]), W, H, orientation)) == expected
    assert display_size(W, H, orientation) == size
    back = points_display_to_stored(np.array(expected, dtype=float), W, H, orientation)
    assert tuple(back) == (10, 20)


def test_orientation_6_display_top_left_is_stored_bottom_left():
    crop = Crop(0.1, 0.2, 0.7, 0.9, 0)
    stored = crop_to_corners(crop, W, H)
    shown = crop_stored_to_display(crop, W, H, 6)
    display_tl = crop_to_corners(shown, H, W)[0]
    assert display_tl == pytest.approx(points_stored_to_display(stored[3], W, H, 6))
    # Turned a quarter clockwise: stored BL (0.1 W, 0.9 H) shows at (H - 0.9 H, 0.1 W).
    assert shown.to_dict() == pytest.approx(
        {"left": 0.1, "top": 0.1, "right": 0.8, "bottom": 0.7, "angle": 0}
    )


def test_mirrored_orientations_negate_the_angle():
    crop = Crop(0.335184, 0, 0.664816, 1, 30)
    for o in ORIENTATIONS:
        shown = crop_stored_to_display(crop, W, H, o)
        assert shown.angle == (-30 if o in MIRRORED else 30)


def test_bad_orientation_is_a_clear_error():
    with pytest.raises(ValueError, match="1..8, got 9"):
        crop_stored_to_display(Crop.full_frame(), W, H, 9)
    with pytest.raises(ValueError, match="True"):
        check_orientation(True)


@given(
    orientation=st.sampled_from(ORIENTATIONS),
    cx=st.floats(0.1, 0.9),
    cy=st.floats(0.1, 0.9),
    aspect=st.floats(0.3, 3),
    scale=st.floats(0.2, 1.0),
    angle=st.floats(-44, 44),
    w=st.integers(50, 7000),
    h=st.integers(50, 7000),
)
def test_round_trip_and_geometry_for_every_orientation(
    orientation, cx, cy, aspect, scale, angle, w, h
):
    big = largest_crop(w, h, aspect, angle, (cx * w, cy * h))
    # Shrink towards the centre so that the crop is a random one, not always the largest.
    arr = big.as_array()
    mid = np.array([(arr[0] + arr[2]) / 2, (arr[1] + arr[3]) / 2])
    lt = mid + scale * (arr[:2] - mid)
    rb = mid + scale * (arr[2:4] - mid)
    crop = Crop(lt[0], lt[1], rb[0], rb[1], angle)

    shown = crop_stored_to_display(crop, w, h, orientation)
    dw, dh = display_size(w, h, orientation)
    # The display crop rebuilds exactly the mapped rectangle from its TL, BR and the
    # sign-flipped angle, corners named as seen in the displayed picture.
    mapped = corners_stored_to_display(crop_to_corners(crop, w, h), w, h, orientation)
    rebuilt = crop_to_corners(shown, dw, dh)
    assert rebuilt == pytest.approx(mapped, abs=1e-6 * max(w, h))
    assert crop_is_inside(shown, dw, dh, tol_px=1e-6 * max(w, h))

    back = crop_display_to_stored(shown, w, h, orientation)
    assert back.as_array() == pytest.approx(crop.as_array(), abs=1e-9)
