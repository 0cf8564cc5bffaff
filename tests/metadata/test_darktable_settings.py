"""darktable reader: real sidecars as crop records; flags, fields, unknown versions, arguments.

metadata/darktable/settings.py.
"""

from __future__ import annotations

import logging
import math
import struct

import pytest

from cropperhead.geometry import crop_is_inside, crop_to_corners
from cropperhead.metadata.darktable import read_darktable_settings
from cropperhead.metadata.types import ORIGIN_DARKTABLE, UNSUPPORTED, SkipError
from tests.metadata.darktable_builders import (
    LOG,
    H,
    W,
    approx_crop,
    clipping_p,
    crop_p,
    fixture,
    flip_p,
    li,
    packet,
)

# --------------------------------------------------------------------------- converted records


def test_highlight_opposed_crop(shared_fixtures):
    s = read_darktable_settings(fixture(shared_fixtures, "highlight-opposed.xmp"))
    assert (s.origin, s.has_settings, s.has_crop, s.crop_frame) == (
        ORIGIN_DARKTABLE, True, True, "display",
    )  # fmt: skip
    assert s.orientation is None  # automatic: the photo's own EXIF orientation
    # a plain box: left 0, top 0, right 0.429779, bottom 0.642796, no angle
    approx_crop(s.crop, {"left": 0, "top": 0, "right": 0.429779, "bottom": 0.642796, "angle": 0})


def test_croprotate_keystone_ignores_the_keystone(shared_fixtures, caplog):
    packet_ = fixture(shared_fixtures, "croprotate-keystone.xmp")
    with caplog.at_level(logging.INFO, logger=LOG):
        s = read_darktable_settings(packet_)
    assert "keystone" in caplog.text
    assert s.has_crop
    assert s.crop_frame == "display"
    approx_crop(s.crop, {"left": 0.043901, "top": 0.182976, "right": 0.808345, "bottom": 0.94742})
    assert s.crop.angle == 0
    with pytest.raises(SkipError) as err:
        read_darktable_settings(packet_, perspective="skip")
    assert err.value.reason == UNSUPPORTED
    assert "keystone" in err.value.detail


def test_multiple_modules_clipping_by_hand(shared_fixtures):
    packet_ = fixture(shared_fixtures, "multiple-modules.xmp")
    with pytest.raises(SkipError) as err:  # a turned crop needs the photo's aspect
        read_darktable_settings(packet_)
    assert err.value.reason == UNSUPPORTED
    assert "size" in err.value.detail
    s = read_darktable_settings(packet_, image_size=(W, H), orientation=1)
    assert s.crop_frame == "display"
    # Independent arithmetic. darktable angle a = -1.000015 deg: output q (centred)
    # comes from input centre + [[cos a, sin a], [-sin a, cos a]] q.
    (angle,) = struct.unpack("<f", bytes.fromhex("800080bf"))  # the blob's first float
    assert angle == pytest.approx(-1.000015, abs=1e-6)
    a = math.radians(angle)
    ca, sa = math.cos(a), math.sin(a)
    c, s_ = abs(ca), abs(sa)
    # crop_auto: largest W:H box inside the turned photo (the H:W one is smaller)
    scale = min(1.0, W / (c * W + s_ * H), H / (s_ * W + c * H))
    assert scale > min(1.0, H / (c * W + s_ * H), W / (s_ * W + c * H))
    half_w, half_h = scale * W / 2, scale * H / 2
    x0, y0 = -half_w, -half_h  # cx = cy = 0
    x1 = -half_w + 0.9977186322212219 * 2 * half_w
    y1 = -half_h + 0.9977116584777832 * 2 * half_h

    def back(x, y):
        return W / 2 + ca * x + sa * y, H / 2 - sa * x + ca * y

    (tlx, tly), (brx, bry) = back(x0, y0), back(x1, y1)
    expected = {"left": tlx / W, "top": tly / H, "right": brx / W, "bottom": bry / H}
    approx_crop(s.crop, expected, abs_=1e-9)
    # Lightroom's angle is the opposite of darktable's: the box turns clockwise
    assert s.crop.angle == pytest.approx(1.000015, abs=1e-6)
    # auto crop: the top-left corner touches the top edge, the crop lies inside
    assert s.crop.top == pytest.approx(0, abs=1e-9)
    assert crop_is_inside(s.crop, W, H, tol_px=1e-6)
    # a portrait display frame (EXIF 6) changes the aspect and so the numbers
    s6 = read_darktable_settings(packet_, image_size=(W, H), orientation=6)
    assert crop_is_inside(s6.crop, H, W, tol_px=1e-6)
    assert s6.crop.left != pytest.approx(s.crop.left, abs=1e-3)


def test_overlay_ashift_by_hand(shared_fixtures):
    packet_ = fixture(shared_fixtures, "overlay-modules-before-after.xmp")
    s = read_darktable_settings(packet_, image_size=(W, H))  # no orientation needed
    assert s.crop_frame == "stored"  # ashift runs before darktable's orientation
    r = math.radians(5.299999237060547)
    c, s_ = math.cos(r), math.sin(r)
    bw, bh = W * c + H * s_, W * s_ + H * c  # the turned photo's bounding box
    cl, cr, ct, cb = (
        0.050501931458711624,
        0.9494026899337769,
        0.11564230173826218,
        0.8840628266334534,
    )

    def back(x, y):  # output (bounding-box pixels) -> photo: turn back by -r
        qx, qy = x - bw / 2, y - bh / 2
        return W / 2 + c * qx - s_ * qy, H / 2 + s_ * qx + c * qy

    (tlx, tly), (brx, bry) = back(cl * bw, ct * bh), back(cr * bw, cb * bh)
    approx_crop(
        s.crop, {"left": tlx / W, "top": tly / H, "right": brx / W, "bottom": bry / H}, abs_=1e-9
    )
    assert s.crop.angle == pytest.approx(5.299999, abs=1e-6)  # same sign as ashift
    # darktable's "largest area" crop touches the edges of the 3:2 photo
    corners = crop_to_corners(s.crop, W, H) / [W, H]
    assert corners.min() == pytest.approx(0, abs=2e-4)
    assert corners.max() == pytest.approx(1, abs=2e-4)
    assert crop_is_inside(s.crop, W, H, tol_px=0.5)


def test_almost_all_composes_ashift_and_crop(shared_fixtures, caplog):
    packet_ = fixture(shared_fixtures, "almost-all.xmp")
    with pytest.raises(SkipError) as err:  # ashift -> automatic flip -> crop
        read_darktable_settings(packet_)
    assert err.value.reason == UNSUPPORTED
    assert "orientation" in err.value.detail
    with caplog.at_level(logging.INFO, logger=LOG):
        s = read_darktable_settings(packet_, image_size=(W, H), orientation=1)
    assert "lens shift" in caplog.text  # perspective dropped, crop kept
    cl, cr, ct, cb = 0.0037798, 0.9895996, 0.0145723, 0.9994802  # ashift box (stored)
    cx, cy, cw, ch = 0.0037719, 0.0000012, 0.9992487, 0.9962265  # crop 70 (display)
    expected = {
        "left": cl + cx * (cr - cl),
        "top": ct + cy * (cb - ct),
        "right": cl + cw * (cr - cl),
        "bottom": ct + ch * (cb - ct),
        "angle": 0,
    }
    approx_crop(s.crop, expected, abs_=1e-6)
    assert s.crop_frame == "display"
    # EXIF 6: display (x', y') = (H - y, x); the ashift box becomes
    # x' in [1 - cb, 1 - ct], y' in [cl, cr] before the crop cuts it
    s6 = read_darktable_settings(packet_, image_size=(W, H), orientation=6)
    l6, r6 = 1 - cb, 1 - ct
    expected6 = {
        "left": l6 + cx * (r6 - l6),
        "top": cl + cy * (cr - cl),
        "right": l6 + cw * (r6 - l6),
        "bottom": cl + ch * (cr - cl),
        "angle": 0,
    }
    approx_crop(s6.crop, expected6, abs_=1e-6)


def test_orientation_minus_90_is_not_a_crop(shared_fixtures):
    s = read_darktable_settings(fixture(shared_fixtures, "orientation-minus-90.xmp"))
    assert (s.has_settings, s.has_crop, s.crop) == (True, False, None)
    # darktable flip 6 = swap then mirror x: (x, y) -> (y, W - x), EXIF 8
    assert s.orientation == 8


def test_fields(shared_fixtures):
    s = read_darktable_settings(
        fixture(shared_fixtures, "highlight-opposed.xmp"),
        fields=[
            "darktable:xmp_version",
            "darktable:history_end",
            "crs:Exposure2012",
            "darktable:nope",
        ],
    )
    assert s.fields == {"darktable:xmp_version": "5", "darktable:history_end": "12"}


# --------------------------------------------------------------------------- history rules


@pytest.mark.parametrize(
    ("bits", "exif"), [(-1, None), (0, 1), (1, 4), (2, 2), (3, 3), (4, 5), (5, 6), (6, 8), (7, 7)]
)
def test_flip_orientation_codes(bits, exif):
    s = read_darktable_settings(packet([li(0, "flip", flip_p(bits), 2)]))
    assert (s.orientation, s.has_crop) == (exif, False)


def test_switched_off_flip_means_no_orientation():
    entries = [li(0, "flip", flip_p(6), 2), li(1, "flip", flip_p(6), 2, enabled=0)]
    assert read_darktable_settings(packet(entries)).orientation == 1


def test_full_frame_is_not_a_crop():
    entries = [
        li(0, "crop", crop_p(0.0, 0.0, 1.0, 1.0), 1),
        li(1, "clipping", clipping_p(0.0, 0.0, 0.0, 1.0, 1.0), 5),
    ]
    s = read_darktable_settings(packet(entries))
    assert (s.has_settings, s.has_crop, s.crop) == (True, False, None)


# --------------------------------------------------------------------------- bad input


def test_unknown_module_version_is_skipped(caplog):
    only = packet([li(0, "clipping", clipping_p(0.0, 0.1, 0.1, 0.9, 0.9), 6)])
    with caplog.at_level(logging.WARNING, logger=LOG):
        with pytest.raises(SkipError) as err:
            read_darktable_settings(only)
    assert err.value.reason == UNSUPPORTED
    assert "clipping v6" in err.value.detail
    assert "not a known version" in caplog.text
    caplog.clear()
    both = packet(
        [
            li(0, "clipping", clipping_p(0.0, 0.1, 0.1, 0.9, 0.9), 6),
            li(1, "crop", crop_p(0.2, 0.2, 0.4, 0.4), 1),
        ]
    )
    with caplog.at_level(logging.WARNING, logger=LOG):
        s = read_darktable_settings(both)
    assert "without clipping v6" in caplog.text
    approx_crop(s.crop, {"left": 0.2, "top": 0.2, "right": 0.4, "bottom": 0.4})


def test_bad_arguments_raise_value_error():
    p = packet([li(0, "crop", crop_p(0.1, 0.1, 0.9, 0.9), 1)])
    with pytest.raises(ValueError, match="9"):
        read_darktable_settings(p, orientation=9)
    with pytest.raises(ValueError, match="image_size"):
        read_darktable_settings(p, image_size=(0, 10))
    with pytest.raises(ValueError, match="perspective"):
        read_darktable_settings(p, perspective="warp")
