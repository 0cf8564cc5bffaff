"""darktable sidecars: history, params and the crop they make (metadata/darktable.py)."""

from __future__ import annotations

import base64
import logging
import math
import re
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cropperhead.geometry import (
    MIRRORED,
    ORIENTATIONS,
    Crop,
    CropFrame,
    crop_display_to_stored,
    crop_is_inside,
    crop_stored_to_display,
    crop_to_corners,
    crop_to_frame,
    display_size,
    frame_to_crop,
    largest_crop,
)
from cropperhead.metadata.darktable import (
    CROPPERHEAD_NS,
    AshiftParams,
    ClippingParams,
    CropParams,
    FlipParams,
    crop_to_darktable_params,
    darktable_orientation,
    decode_module_params,
    decode_params,
    encode_module_params,
    encode_params,
    is_darktable_xmp,
    is_developed,
    merge_crop_into_darktable,
    read_darktable_history,
    read_darktable_settings,
    written_by_cropperhead,
)
from cropperhead.metadata.types import (
    BAD_METADATA,
    INVALID_CROP,
    ORIGIN_DARKTABLE,
    UNSUPPORTED,
    SkipError,
)

# mire1.cr2 is a Canon raw; any 3:2 size works (only the aspect matters).
W, H = 3888, 2592
LOG = "cropperhead.metadata.darktable"


def fixture(shared_fixtures, name):
    return (shared_fixtures / "darktable" / name).read_bytes()


# --------------------------------------------------------------------------- builders


def hexp(fmt, *values):
    return struct.pack(fmt, *values).hex()


def gzp(fmt, *values):
    raw = struct.pack(fmt, *values)
    return "gz12" + base64.b64encode(zlib.compress(raw)).decode()


def crop_p(cx, cy, cw, ch):
    return hexp("<4f2i", cx, cy, cw, ch, 0, 1)


KEYSTONE_CORNERS = (0.2, 0.2, 0.8, 0.2, 0.8, 0.8, 0.2, 0.8)


def clipping_p(angle, cx, cy, cw, ch, *, crop_auto=1, k_type=0, k_apply=0):
    return hexp(
        "<15f6i", angle, cx, cy, cw, ch, 0.0, 0.0, *KEYSTONE_CORNERS, k_type, 0, k_apply,
        crop_auto, -1, -1,
    )  # fmt: skip


def ashift_p(rotation, cl=0.0, cr=1.0, ct=0.0, cb=1.0, *, lensshift_v=0.0, shear=0.0):
    return gzp(
        "<8f2i4f200fi8f", rotation, lensshift_v, 0.0, shear, 28.0, 1.0, 100.0, 1.0, 0, 1,
        cl, cr, ct, cb, *([0.0] * 200), 0, *([0.0] * 8),
    )  # fmt: skip


def flip_p(value):
    return hexp("<i", value)


def li(num, op, params, version, enabled=1, prio=0):
    return {
        "num": str(num),
        "operation": op,
        "enabled": str(enabled),
        "modversion": str(version),
        "params": params,
        "multi_name": "",
        "multi_priority": str(prio),
    }


def packet(entries, *, history_end=None, xmp_version=5, form="attr", extra=""):
    items = []
    for e in entries:
        if form == "attr":
            attrs = " ".join(f'darktable:{k}="{v}"' for k, v in e.items())
            items.append(f"<rdf:li {attrs}/>")
        elif form == "element":
            body = "".join(f"<darktable:{k}>{v}</darktable:{k}>" for k, v in e.items())
            items.append(f'<rdf:li rdf:parseType="Resource">{body}</rdf:li>')
        else:  # an rdf:Description inside the rdf:li
            attrs = " ".join(f'darktable:{k}="{v}"' for k, v in e.items())
            items.append(f"<rdf:li><rdf:Description {attrs}/></rdf:li>")
    end = "" if history_end is None else f' darktable:history_end="{history_end}"'
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:darktable="http://darktable.sf.net/" '
        'xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/" crs:Exposure2012="+0.35" '
        f'darktable:xmp_version="{xmp_version}"{end}{extra}>'
        f"<darktable:history><rdf:Seq>{''.join(items)}</rdf:Seq></darktable:history>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    ).encode()


def approx_crop(crop, expected, abs_=1e-6):
    got = crop.to_dict()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=abs_), (key, got)


# --------------------------------------------------------------------------- routing


ALL = [
    "croprotate-keystone.xmp",
    "multiple-modules.xmp",
    "overlay-modules-before-after.xmp",
    "almost-all.xmp",
    "highlight-opposed.xmp",
    "orientation-minus-90.xmp",
]


@pytest.mark.parametrize("name", ALL)
def test_fixture_sidecars_are_darktable(shared_fixtures, name):
    assert is_darktable_xmp(fixture(shared_fixtures, name))


def test_lightroom_sidecar_is_not_darktable(shared_fixtures):
    assert not is_darktable_xmp((shared_fixtures / "xmp" / "ladybug.xmp").read_bytes())
    assert not is_darktable_xmp(b"<x:xmpmeta/>")
    # the namespace alone (no history) is not enough; another prefix is fine
    assert not is_darktable_xmp(b'<a xmlns:darktable="http://darktable.sf.net/"/>')
    assert is_darktable_xmp(b'<a xmlns:dt="http://darktable.sf.net/"><dt:history>')


# --------------------------------------------------------------------------- decoded values


def entry_at(history, num):
    (entry,) = [e for e in history.entries if e.num == num]
    return entry


def test_croprotate_keystone_decoded(shared_fixtures):
    h = read_darktable_history(fixture(shared_fixtures, "croprotate-keystone.xmp"))
    assert (h.history_end, h.xmp_version) == (9, 4)
    flip = entry_at(h, 7)
    assert (flip.operation, flip.modversion, flip.decode()) == ("flip", 2, FlipParams(-1))
    clip = entry_at(h, 8)
    p = clip.decode()
    assert isinstance(p, ClippingParams)
    assert clip.enabled
    assert clip.modversion == 5
    assert p.angle == 0
    assert (p.cx, p.cy, p.cw, p.ch) == pytest.approx(
        (0.043901, 0.182976, 0.808345, 0.947420), abs=1e-6
    )
    assert (p.k_type, p.k_apply, p.crop_auto) == (3, 1, 1)


def test_multiple_modules_decoded(shared_fixtures):
    h = read_darktable_history(fixture(shared_fixtures, "multiple-modules.xmp"))
    assert h.history_end == 20
    assert entry_at(h, 11).decode() == FlipParams(-1)
    p = entry_at(h, 13).decode()
    assert p.angle == pytest.approx(-1.000015, abs=1e-6)
    assert (p.cx, p.cy, p.cw, p.ch) == pytest.approx((0, 0, 0.997719, 0.997712), abs=1e-6)
    assert p.crop_auto == 1


def test_overlay_modules_decoded(shared_fixtures):
    h = read_darktable_history(fixture(shared_fixtures, "overlay-modules-before-after.xmp"))
    assert (h.history_end, h.xmp_version) == (17, 5)
    assert entry_at(h, 9).decode() == FlipParams(-1)
    ashift = entry_at(h, 15)
    assert ashift.params_text.startswith("gz")
    p = ashift.decode()
    assert isinstance(p, AshiftParams)
    assert ashift.modversion == 5
    assert p.rotation == pytest.approx(5.299999, abs=1e-6)
    assert (p.lensshift_v, p.lensshift_h, p.shear, p.cropmode) == (0, 0, 0, 1)
    assert (p.cl, p.cr, p.ct, p.cb) == pytest.approx(
        (0.050502, 0.949403, 0.115642, 0.884063), abs=1e-6
    )


def test_almost_all_decoded_and_active(shared_fixtures):
    h = read_darktable_history(fixture(shared_fixtures, "almost-all.xmp"))
    assert (h.history_end, len(h.entries)) == (71, 71)
    a = entry_at(h, 14).decode()
    assert (a.rotation, a.cropmode) == (0, 1)
    assert (a.lensshift_v, a.lensshift_h, a.shear) == pytest.approx(
        (0.014, -0.014, -0.005), abs=1e-6
    )
    assert (a.cl, a.cr, a.ct, a.cb) == pytest.approx(
        (0.003780, 0.989600, 0.014572, 0.999480), abs=1e-6
    )
    assert entry_at(h, 15).decode() == FlipParams(-1)
    c62 = entry_at(h, 62).decode()
    assert (c62.cx, c62.cy, c62.cw, c62.ch) == pytest.approx((0.003398, 0, 1, 0.996603), abs=1e-6)
    clip = entry_at(h, 67)
    assert not clip.enabled
    p = clip.decode()
    assert (p.angle, p.cx, p.cy, p.cw, p.ch) == pytest.approx(
        (0.470001, 0.009173, 0.009846, 0.990355, 0.988516), abs=1e-6
    )
    assert (p.ratio_n, p.ratio_d) == (2, 3)
    c70 = entry_at(h, 70).decode()
    assert (c70.cx, c70.cy, c70.cw, c70.ch) == pytest.approx(
        (0.003772, 0.000001, 0.999249, 0.996226), abs=1e-6
    )
    assert (c70.ratio_n, c70.ratio_d) == (0, 1)
    # the last crop entry wins; the disabled clipping is off
    active = h.active()
    assert active[("crop", 0)].num == 70
    assert ("clipping", 0) not in active
    assert h.instances()[("clipping", 0)].num == 67
    # a custom pipe order (iop_order_version 0) keeps ashift < flip < clipping < crop
    order = h.pipe_order()
    assert [op for op in order if op in ("ashift", "flip", "clipping", "crop")] == [
        "ashift", "flip", "clipping", "crop",
    ]  # fmt: skip


def test_highlight_opposed_decoded(shared_fixtures):
    h = read_darktable_history(fixture(shared_fixtures, "highlight-opposed.xmp"))
    assert h.history_end == 12
    assert entry_at(h, 10).decode() == FlipParams(-1)
    p = entry_at(h, 11).decode()
    assert isinstance(p, CropParams)
    assert (p.cx, p.cy, p.cw, p.ch) == pytest.approx((0, 0, 0.429779, 0.642796), abs=1e-6)
    assert (p.ratio_n, p.ratio_d) == (1, 1)


def test_orientation_minus_90_decoded(shared_fixtures):
    h = read_darktable_history(fixture(shared_fixtures, "orientation-minus-90.xmp"))
    assert h.history_end == 9
    assert entry_at(h, 7).decode() == FlipParams(-1)
    assert entry_at(h, 8).decode() == FlipParams(6)
    assert h.active()[("flip", 0)].num == 8


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


def test_disabled_entries_are_off():
    s = read_darktable_settings(packet([li(0, "crop", crop_p(0.1, 0.1, 0.9, 0.9), 1, enabled=0)]))
    assert (s.has_settings, s.has_crop, s.crop) == (True, False, None)


def test_a_later_disabled_entry_switches_the_module_off():
    entries = [
        li(0, "crop", crop_p(0.1, 0.1, 0.9, 0.9), 1),
        li(1, "crop", crop_p(0.1, 0.1, 0.9, 0.9), 1, enabled=0),
    ]
    assert not read_darktable_settings(packet(entries)).has_crop


def test_history_end_cuts_entries_off():
    entries = [
        li(0, "flip", flip_p(-1), 2),
        li(1, "crop", crop_p(0.1, 0.2, 0.6, 0.7), 1),
        li(2, "crop", crop_p(0.3, 0.3, 0.5, 0.5), 1),
    ]
    approx_crop(read_darktable_settings(packet(entries)).crop, {"left": 0.3, "right": 0.5})
    approx_crop(
        read_darktable_settings(packet(entries, history_end=2)).crop,
        {"left": 0.1, "top": 0.2, "right": 0.6, "bottom": 0.7},
    )
    assert not read_darktable_settings(packet(entries, history_end=1)).has_crop
    assert not read_darktable_settings(packet(entries, history_end=0)).has_crop


def test_last_entry_wins_in_num_order():
    entries = [
        li(1, "crop", crop_p(0.3, 0.3, 0.5, 0.5), 1),  # written first, replayed second
        li(0, "crop", crop_p(0.1, 0.2, 0.6, 0.7), 1),
    ]
    approx_crop(read_darktable_settings(packet(entries)).crop, {"left": 0.3, "bottom": 0.5})


@pytest.mark.parametrize("form", ["element", "description"])
def test_element_form_rdf_li(form):
    entries = [
        li(0, "flip", flip_p(5), 2),
        li(1, "crop", crop_p(0.1, 0.2, 0.6, 0.7), 1),
        li(2, "clipping", clipping_p(0.0, 0.0, 0.0, 1.0, 1.0), 5, enabled=0),
    ]
    attr = read_darktable_settings(packet(entries, history_end=3))
    other = read_darktable_settings(packet(entries, history_end=3, form=form))
    assert other == attr
    assert other.orientation == 6  # darktable flip 5 = EXIF 6
    approx_crop(other.crop, {"left": 0.1, "top": 0.2, "right": 0.6, "bottom": 0.7})


@pytest.mark.parametrize("xmp_version", [4, 5])
def test_xmp_versions(xmp_version):
    s = read_darktable_settings(
        packet([li(0, "crop", crop_p(0.1, 0.2, 0.6, 0.7), 1)], xmp_version=xmp_version)
    )
    assert s.has_crop


def test_no_history_means_no_settings():
    s = read_darktable_settings(packet([]))
    assert (s.has_settings, s.has_crop) == (False, False)
    bare = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"/>'
    assert not read_darktable_settings(bare).has_settings


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


def test_truncated_params_are_bad_metadata():
    short = crop_p(0.1, 0.1, 0.9, 0.9)[:-8]  # 20 bytes instead of 24
    with pytest.raises(SkipError) as err:
        read_darktable_settings(packet([li(0, "crop", short, 1)]))
    assert err.value.reason == BAD_METADATA
    assert "20 bytes" in err.value.detail
    blob = zlib.compress(struct.pack("<4f2i", 0.1, 0.1, 0.9, 0.9, 0, 1))
    cut = "gz12" + base64.b64encode(blob[:-6]).decode()  # zlib stream cut short
    with pytest.raises(SkipError) as err:
        read_darktable_settings(packet([li(0, "crop", cut, 1)]))
    assert err.value.reason == BAD_METADATA
    with pytest.raises(SkipError) as err:
        read_darktable_settings(packet([li(0, "crop", "zz00", 1)]))
    assert err.value.reason == BAD_METADATA
    assert "not hex" in err.value.detail


def test_decode_params_forms():
    raw = struct.pack("<4f2i", 0.1, 0.2, 0.3, 0.4, 5, 6)
    assert decode_params(raw.hex()) == raw
    assert decode_params("gz07" + base64.b64encode(zlib.compress(raw)).decode()) == raw


def test_zip_bomb_params_are_refused():
    bomb = "gz99" + base64.b64encode(zlib.compress(b"\0" * (4 << 20))).decode()
    with pytest.raises(SkipError) as err:
        decode_params(bomb)
    assert err.value.reason == BAD_METADATA


def test_entry_without_modversion_is_bad_metadata():
    entry = li(0, "crop", crop_p(0.1, 0.1, 0.9, 0.9), 1)
    del entry["modversion"]
    with pytest.raises(SkipError) as err:
        read_darktable_settings(packet([entry]))
    assert err.value.reason == BAD_METADATA
    assert "modversion" in err.value.detail


def test_entity_bomb_is_refused():
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/" xmlns:darktable="http://darktable.sf.net/">'
        b"<darktable:history>&lol2;</darktable:history></x:xmpmeta>"
    )
    with pytest.raises(SkipError) as err:
        read_darktable_settings(bomb)
    assert err.value.reason == BAD_METADATA
    assert "\n" not in err.value.detail


def test_malformed_xml_is_bad_metadata():
    with pytest.raises(SkipError) as err:
        read_darktable_settings(packet([li(0, "crop", crop_p(0.1, 0.1, 0.9, 0.9), 1)])[:-20])
    assert err.value.reason == BAD_METADATA


def test_bad_arguments_raise_value_error():
    p = packet([li(0, "crop", crop_p(0.1, 0.1, 0.9, 0.9), 1)])
    with pytest.raises(ValueError, match="9"):
        read_darktable_settings(p, orientation=9)
    with pytest.raises(ValueError, match="image_size"):
        read_darktable_settings(p, image_size=(0, 10))
    with pytest.raises(ValueError, match="perspective"):
        read_darktable_settings(p, perspective="warp")


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


# --------------------------------------------------------------------------- legacy versions


def test_legacy_clipping_versions():
    v4 = hexp("<15f4i", 2.0, 0.1, 0.2, 0.8, 0.9, 0.0, 0.0, *KEYSTONE_CORNERS, 0, 0, 0, 1)
    p4 = read_darktable_history(packet([li(0, "clipping", v4, 4)])).entries[0].decode()
    assert (p4.angle, p4.crop_auto, p4.ratio_n) == pytest.approx((2.0, 1, -2))
    # v3: 7 floats; a one-axis keystone becomes k_type 4 (a perspective correction)
    v3 = hexp("<7f", 0.0, 0.1, 0.2, 0.8, 0.9, 0.25, 0.0)
    p3 = read_darktable_history(packet([li(0, "clipping", v3, 3)])).entries[0].decode()
    assert (p3.k_type, p3.k_h, p3.crop_auto) == (4, 0.25, 1)
    assert p3.keystone_applied
    with pytest.raises(SkipError) as err:
        read_darktable_settings(packet([li(0, "clipping", v3, 3)]), perspective="skip")
    assert err.value.reason == UNSUPPORTED
    # v2 hid the keystone direction in bit 30 of k_h: set means horizontal
    (bits,) = struct.unpack("<I", struct.pack("<f", 0.25))
    (flagged,) = struct.unpack("<f", struct.pack("<I", bits | 0x40000000))
    v2 = hexp("<7f", 0.0, 0.1, 0.2, 0.8, 0.9, flagged, 0.0)
    p2 = read_darktable_history(packet([li(0, "clipping", v2, 2)])).entries[0].decode()
    assert (p2.k_h, p2.k_v, p2.k_type) == (0.25, 0.0, 4)


def test_legacy_ashift_versions():
    v4 = hexp("<8f3i4f", 3.0, 0.1, 0.2, 0.05, 50.0, 1.5, 100.0, 1.0, 0, 1, 2, 0.1, 0.9, 0.2, 0.8)
    p4 = read_darktable_history(packet([li(0, "ashift", v4, 4)])).entries[0].decode()
    assert (p4.rotation, p4.shear, p4.mode, p4.cropmode) == pytest.approx((3.0, 0.05, 0, 2))
    assert (p4.cl, p4.cr, p4.ct, p4.cb) == pytest.approx((0.1, 0.9, 0.2, 0.8))
    v3 = hexp("<7f3i4f", 3.0, 0.0, 0.0, 50.0, 1.5, 100.0, 1.0, 0, 1, 1, 0.1, 0.9, 0.2, 0.8)
    p3 = read_darktable_history(packet([li(0, "ashift", v3, 3)])).entries[0].decode()
    assert (p3.rotation, p3.shear, p3.f_length, p3.cropmode) == pytest.approx((3.0, 0.0, 50.0, 1))
    assert (p3.cl, p3.cr, p3.ct, p3.cb) == pytest.approx((0.1, 0.9, 0.2, 0.8))
    v1 = hexp("<3fi", 3.0, 0.0, 0.0, 1)
    p1 = read_darktable_history(packet([li(0, "ashift", v1, 1)])).entries[0].decode()
    assert (p1.rotation, p1.cl, p1.cr, p1.ct, p1.cb) == pytest.approx((3.0, 0, 1, 0, 1))


def test_custom_order_keeps_missing_modules_in_place():
    extra = ' darktable:iop_order_version="0" darktable:iop_order_list="crop,0,ashift,0"'
    order = read_darktable_history(packet([], extra=extra)).pipe_order()
    assert order.index("crop") < order.index("ashift") < order.index("flip")
    assert order.index("flip") < order.index("clipping")


# --------------------------------------------------------------------------- writing


#: A stored frame that is not 3:2, so that turned crops depend on the aspect.
SW, SH = 400, 250


def developed(entries=None, *, history_end=None, auto="1", extra=""):
    """A developed darktable sidecar (auto presets applied, applied entries)."""
    entries = (
        entries
        if entries is not None
        else [li(0, "colorin", "00", 7), li(1, "flip", flip_p(-1), 2)]
    )
    end = len(entries) if history_end is None else history_end
    return packet(
        entries, history_end=end, extra=f' darktable:auto_presets_applied="{auto}"{extra}'
    )


def turned(angle, w=SW, h=SH, centre=(0.52, 0.47)):
    full = largest_crop(w, h, 1.3, angle, (centre[0] * w, centre[1] * h))
    a = full.as_array()
    mid = (a[:2] + a[2:4]) / 2
    lt, rb = mid + 0.8 * (a[:2] - mid), mid + 0.8 * (a[2:4] - mid)
    return Crop(lt[0], lt[1], rb[0], rb[1], angle)


def assert_same(got, want, tol=1e-5):
    assert got is not None
    assert max(abs(a - b) for a, b in zip(got.as_array(), want.as_array(), strict=True)) < tol


@pytest.mark.parametrize("orientation", ORIENTATIONS)
@pytest.mark.parametrize("angle", [0.0, 3.5, -12.0, 44.0])
def test_encode_decode_round_trip(orientation, angle):
    """decode(encode(crop)) == crop, display frame, all orientations, turned crops."""
    dw, dh = display_size(SW, SH, orientation)
    crop = turned(angle, dw, dh)
    stored = crop_display_to_stored(crop, SW, SH, orientation)
    merged = merge_crop_into_darktable(developed(), stored, (SW, SH), orientation)
    settings = read_darktable_settings(merged, image_size=(SW, SH), orientation=orientation)
    assert settings.crop_frame == "display"
    assert_same(settings.crop, crop)
    ashift, box = crop_to_darktable_params(crop, (SW, SH), orientation)
    assert (ashift is None) == (angle == 0)
    if ashift is not None:  # the stored-frame angle: mirrored orientations negate it
        assert ashift.rotation == pytest.approx(-angle if orientation in MIRRORED else angle)
        assert (ashift.cropmode, ashift.cl, ashift.cr, ashift.ct, ashift.cb) == (0, 0, 1, 0, 1)
        assert not ashift.has_perspective
    assert (box.ratio_n, box.ratio_d) == (0, 0)


def test_encoded_params_decode_to_themselves():
    ashift, box = crop_to_darktable_params(turned(5.0), (SW, SH), 1)
    for params in (ashift, box):
        op, version, blob = encode_module_params(params)
        back = decode_params(encode_params(blob))
        decoded = decode_module_params(op, version, back)
        assert type(decoded) is type(params)
        for a, b in zip(decoded.__dict__.values(), params.__dict__.values(), strict=True):
            assert a == pytest.approx(b, abs=1e-6)
    assert encode_params(b"\x00" * 24) == "00" * 24
    assert encode_params(b"\x00" * 892).startswith("gz")


def test_append_keeps_every_other_byte_and_moves_history_end():
    base = developed()
    merged = merge_crop_into_darktable(
        base, crop_display_to_stored(turned(4.0), SW, SH, 1), (SW, SH), 1
    )
    history = read_darktable_history(merged)
    assert [e.operation for e in history.entries] == ["colorin", "flip", "ashift", "crop"]
    assert [e.num for e in history.entries] == [0, 1, 2, 3]
    assert history.history_end == 4
    assert [e.modversion for e in history.entries[2:]] == [5, 1]
    # Removing what was inserted gives the original back, byte for byte.
    seq_end = merged.index(b"</rdf:Seq>")
    first_new = merged.index(b'<rdf:li darktable:num="2"')
    stripped = merged[:first_new].rstrip(b" ") + merged[seq_end:]
    stripped = stripped.replace(b'history_end="4"', b'history_end="2"')
    stripped = re.sub(
        rb' xmlns:cropperhead="[^"]*" cropperhead:SidecarDigest="[0-9a-f]{64}"', b"", stripped
    )
    assert stripped == base


@pytest.mark.parametrize(
    "name",
    ["multiple-modules.xmp", "overlay-modules-before-after.xmp", "highlight-opposed.xmp",
     "orientation-minus-90.xmp"],
)  # fmt: skip
def test_merge_into_real_darktable_sidecars(shared_fixtures, name):
    original = fixture(shared_fixtures, name)
    crop = turned(-6.0, W, H)
    stored = crop_display_to_stored(crop, W, H, 1)
    merged = merge_crop_into_darktable(original, stored, (W, H), 1)
    before, after = read_darktable_history(original), read_darktable_history(merged)
    assert after.entries[: len(before.entries)] == before.entries  # every old step kept
    assert after.history_end == len(after.entries)
    assert {k: v for k, v in after.attributes.items() if k != "history_end"} == {
        k: v for k, v in before.attributes.items() if k != "history_end"
    }
    # The old text is still there piece by piece: only insertions and history_end.
    old_end = f'darktable:history_end="{before.history_end}"'.encode()
    assert merged.count(old_end) == 0
    head = original[: original.index(old_end)]
    assert merged.startswith(head)
    tail = original[original.rindex(b"</rdf:Seq>") :]
    assert merged.endswith(tail)
    shown_with = darktable_orientation(merged, 1)
    want = crop_stored_to_display(stored, W, H, shown_with)
    settings = read_darktable_settings(merged, image_size=(W, H), orientation=1)
    assert_same(settings.crop, want, 1e-4)
    # Other crop-bearing instances are switched off, never removed.
    new = after.entries[len(before.entries) :]
    assert all(e.operation in ("clipping", "ashift", "crop") for e in new)
    assert all(not e.enabled for e in new if e.operation == "clipping")
    assert written_by_cropperhead(merged)
    assert not written_by_cropperhead(original)


def test_user_orientation_is_followed(shared_fixtures):
    """orientation-minus-90: the user turned the photo in darktable (flip 6 = EXIF 8)."""
    original = fixture(shared_fixtures, "orientation-minus-90.xmp")
    assert darktable_orientation(original, 1) == 8
    stored = crop_display_to_stored(turned(3.0), W, H, 1)
    merged = merge_crop_into_darktable(original, stored, (W, H), 1)
    settings = read_darktable_settings(merged, image_size=(W, H), orientation=1)
    assert_same(settings.crop, crop_stored_to_display(stored, W, H, 8), 1e-4)


def test_perspective_corrections_are_not_overwritten(shared_fixtures):
    stored = Crop(0.1, 0.1, 0.9, 0.9, 0.0)
    for name in ("almost-all.xmp", "croprotate-keystone.xmp"):
        with pytest.raises(ValueError, match="perspective"):
            merge_crop_into_darktable(fixture(shared_fixtures, name), stored, (W, H), 1)


def test_an_unturned_crop_switches_a_rotation_off():
    base = developed([li(0, "flip", flip_p(-1), 2), li(1, "ashift", ashift_p(5.0), 5)])
    merged = merge_crop_into_darktable(base, Crop(0.1, 0.2, 0.8, 0.9, 0), (SW, SH), 1)
    history = read_darktable_history(merged)
    assert [(e.operation, e.enabled) for e in history.entries[2:]] == [
        ("ashift", False),
        ("crop", True),
    ]
    assert history.entries[2].params_text == history.entries[1].params_text
    settings = read_darktable_settings(merged, image_size=(SW, SH), orientation=1)
    assert_same(settings.crop, Crop(0.1, 0.2, 0.8, 0.9, 0), 1e-6)


@pytest.mark.parametrize(
    ("sidecar", "message"),
    [
        (developed(auto="0"), "not developed"),
        (developed(history_end=0), "not developed"),
        (developed([]), "not developed"),
        (packet([li(0, "flip", flip_p(-1), 2)]), "not developed"),
        (developed(history_end=1), "undone"),
        (developed([li(0, "flip", flip_p(-1), 2), li(5, "colorin", "00", 7)]), "numbered"),
        (developed().replace(b'xmp_version="5"', b'xmp_version="3"'), "xmp_version"),
        (developed(extra=' darktable:iop_order_list="flip,0,colorin,0"'), "custom module order"),
        (b"<x:xmpmeta><rdf:RDF>broken", "cannot be edited"),
    ],
)  # fmt: skip
def test_refused_histories(sidecar, message):
    with pytest.raises(ValueError, match=message):
        merge_crop_into_darktable(sidecar, Crop(0.1, 0.1, 0.9, 0.9, 2.0), (SW, SH), 1)


def test_element_form_entries_are_not_edited():
    entries = [li(0, "colorin", "00", 7), li(1, "flip", flip_p(-1), 2)]
    base = packet(
        entries, history_end=2, form="element", extra=' darktable:auto_presets_applied="1"'
    )
    with pytest.raises(ValueError, match="element form"):
        merge_crop_into_darktable(base, Crop(0.1, 0.1, 0.9, 0.9, 0), (SW, SH), 1)


def test_an_unknown_entry_field_is_refused():
    entries = [li(0, "flip", flip_p(-1), 2) | {"iop_order": "3.5"}]
    with pytest.raises(ValueError, match="iop_order"):
        merge_crop_into_darktable(developed(entries), Crop(0.1, 0.1, 0.9, 0.9, 0), (SW, SH), 1)


def test_a_box_darktable_would_clamp_is_refused():
    with pytest.raises(ValueError, match="clamp"):
        merge_crop_into_darktable(developed(), Crop(0.92, 0.1, 0.99, 0.9, 0), (SW, SH), 1)


def test_automatic_orientation_needs_the_exif_one():
    with pytest.raises(ValueError, match="EXIF orientation"):
        merge_crop_into_darktable(developed(), Crop(0.1, 0.1, 0.9, 0.9, 0), (SW, SH), None)


def test_is_developed_rule():
    assert is_developed(developed())
    assert not is_developed(developed(auto="0"))
    assert not is_developed(developed(history_end=0))
    assert not is_developed(b"not xml")


def test_the_marker_breaks_when_anyone_else_saves_the_file():
    merged = merge_crop_into_darktable(developed(), Crop(0.1, 0.1, 0.9, 0.9, 1.0), (SW, SH), 1)
    assert CROPPERHEAD_NS.encode() in merged
    assert written_by_cropperhead(merged)
    assert not written_by_cropperhead(merged.replace(b'xmp_version="5"', b'xmp_version="5" '))
    # Writing again replaces the marker's value (one marker, still matching).
    again = merge_crop_into_darktable(merged, Crop(0.2, 0.1, 0.9, 0.9, 0.0), (SW, SH), 1)
    assert again.count(b"cropperhead:SidecarDigest") == 1
    assert written_by_cropperhead(again)
