"""darktable geometry: clipping, ashift, flip and crop composed; signs, mirrors, limits.

metadata/darktable/geometry.py, through the reader.
"""

from __future__ import annotations

import logging
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cropperhead.geometry import Crop, CropFrame, crop_to_frame, frame_to_crop, largest_crop
from cropperhead.metadata.darktable import read_darktable_settings
from cropperhead.metadata.types import INVALID_CROP, UNSUPPORTED, SkipError
from tests.metadata.darktable_builders import (
    LOG,
    H,
    W,
    approx_crop,
    ashift_p,
    clipping_p,
    crop_p,
    flip_p,
    li,
    packet,
)

# --------------------------------------------------------------------------- geometry


def clipping_params_for(crop: Crop, w: float, h: float) -> str:
    """darktable clipping (crop_auto off) params that make a Lightroom crop.

    My own forward model of clipping.c: angle = -CropAngle; the crop box's corners,
    turned into the clipped frame, as fractions of the turned photo's bounding box.
    """
    a = math.radians(-crop.angle)
    ca, sa = math.cos(a), math.sin(a)
    ex, ey = abs(ca) * w / 2 + abs(sa) * h / 2, abs(sa) * w / 2 + abs(ca) * h / 2

    def forward(x, y):  # photo -> centred clipped frame: inverse of [[c, s], [-s, c]]
        px, py = x - w / 2, y - h / 2
        return ca * px - sa * py, sa * px + ca * py

    tx, ty = forward(crop.left * w, crop.top * h)
    bx, by = forward(crop.right * w, crop.bottom * h)
    frac = (
        (tx + ex) / (2 * ex), (ty + ey) / (2 * ey), (bx + ex) / (2 * ex), (by + ey) / (2 * ey)
    )  # fmt: skip
    return clipping_p(-crop.angle, *frac, crop_auto=0)


@settings(max_examples=40, deadline=None)
@given(
    angle=st.floats(-30, 30),
    cx=st.floats(0.4, 0.6),
    cy=st.floats(0.4, 0.6),
    aspect=st.floats(0.5, 2.0),
    size=st.floats(0.2, 0.5),
)
def test_clipping_round_trip(angle, cx, cy, aspect, size):
    full = crop_to_frame(largest_crop(W, H, aspect, angle, (cx * W, cy * H)), W, H)
    smaller = CropFrame(
        full.cx_px, full.cy_px, full.half_width_px * size, full.half_height_px * size, angle
    )
    crop = frame_to_crop(smaller, W, H)
    s = read_darktable_settings(
        packet([li(0, "clipping", clipping_params_for(crop, W, H), 5)]),
        image_size=(W, H),
        orientation=1,
    )
    approx_crop(s.crop, crop.to_dict(), abs_=1e-5)


def test_clipping_angle_sign_is_opposite():
    p = packet([li(0, "clipping", clipping_p(10.0, 0.0, 0.0, 1.0, 1.0), 5)])
    assert read_darktable_settings(p, image_size=(W, H), orientation=1).crop.angle == (
        pytest.approx(-10.0)
    )
    q = packet([li(0, "ashift", ashift_p(10.0, 0.3, 0.7, 0.3, 0.7), 5)])
    assert read_darktable_settings(q, image_size=(W, H)).crop.angle == pytest.approx(10.0)


def test_mirrored_clipping_keeps_the_region(caplog):
    p = packet([li(0, "clipping", clipping_p(0.0, 0.1, 0.2, -0.7, 0.9), 5)])
    with caplog.at_level(logging.INFO, logger=LOG):
        s = read_darktable_settings(p)
    assert "mirror" in caplog.text
    approx_crop(s.crop, {"left": 0.3, "top": 0.2, "right": 0.9, "bottom": 0.9, "angle": 0})


def test_turn_beyond_45_degrees_is_unsupported():
    p = packet([li(0, "clipping", clipping_p(60.0, 0.0, 0.0, 1.0, 1.0), 5)])
    with pytest.raises(SkipError) as err:
        read_darktable_settings(p, image_size=(W, H), orientation=1)
    assert err.value.reason == UNSUPPORTED


def test_uncropped_enlarged_clipping_is_invalid():
    # crop_auto off keeps the black corners of the turned photo: not a crop of the photo
    p = packet([li(0, "clipping", clipping_p(5.0, 0.0, 0.0, 1.0, 1.0, crop_auto=0), 5)])
    with pytest.raises(SkipError) as err:
        read_darktable_settings(p, image_size=(W, H), orientation=1)
    assert err.value.reason == INVALID_CROP


def test_ashift_perspective_policy():
    p = packet([li(0, "ashift", ashift_p(0.0, 0.1, 0.9, 0.1, 0.9, lensshift_v=0.2), 5)])
    s = read_darktable_settings(p)
    assert s.crop_frame == "stored"
    approx_crop(s.crop, {"left": 0.1, "top": 0.1, "right": 0.9, "bottom": 0.9, "angle": 0})
    with pytest.raises(SkipError) as err:
        read_darktable_settings(p, perspective="skip")
    assert err.value.reason == UNSUPPORTED


def test_user_flip_composes_without_an_orientation_argument():
    entries = [
        li(0, "ashift", ashift_p(0.0, 0.1, 0.9, 0.2, 1.0), 5),
        li(1, "flip", flip_p(5), 2),  # EXIF 6: display (x', y') = (H - y, x)
        li(2, "crop", crop_p(0.0, 0.5, 1.0, 1.0), 1),
    ]
    s = read_darktable_settings(packet(entries))
    assert (s.orientation, s.crop_frame) == (6, "display")
    # ashift box in display: x' in [1 - 1.0, 1 - 0.2], y' in [0.1, 0.9]; crop keeps the lower half
    approx_crop(s.crop, {"left": 0.0, "top": 0.5, "right": 0.8, "bottom": 0.9, "angle": 0})


def test_custom_pipe_order_before_flip_stays_stored():
    order = ' darktable:iop_order_version="0" darktable:iop_order_list="crop,0,ashift,0,flip,0"'
    p = packet([li(0, "crop", crop_p(0.1, 0.2, 0.5, 0.6), 1)], extra=order)
    s = read_darktable_settings(p, orientation=6)
    assert s.crop_frame == "stored"
    approx_crop(s.crop, {"left": 0.1, "top": 0.2, "right": 0.5, "bottom": 0.6})


def test_canvas_change_before_crop_is_unsupported():
    entries = [li(0, "enlargecanvas", "00", 1), li(1, "crop", crop_p(0.1, 0.1, 0.9, 0.9), 1)]
    with pytest.raises(SkipError) as err:
        read_darktable_settings(packet(entries))
    assert err.value.reason == UNSUPPORTED
    assert "enlargecanvas" in err.value.detail
