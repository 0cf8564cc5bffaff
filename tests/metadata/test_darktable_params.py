"""darktable module params: decoded from real sidecars, blob forms, legacy versions, encoding.

metadata/darktable/params.py.
"""

from __future__ import annotations

import base64
import struct
import zlib

import pytest

from cropperhead.metadata.darktable import (
    AshiftParams,
    ClippingParams,
    CropParams,
    FlipParams,
    crop_to_darktable_params,
    decode_module_params,
    decode_params,
    encode_module_params,
    encode_params,
    read_darktable_history,
    read_darktable_settings,
)
from cropperhead.metadata.types import BAD_METADATA, UNSUPPORTED, SkipError
from tests.metadata.darktable_builders import (
    KEYSTONE_CORNERS,
    SH,
    SW,
    crop_p,
    fixture,
    hexp,
    li,
    packet,
    turned,
)

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


# --------------------------------------------------------------------------- bad input


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


# --------------------------------------------------------------------------- writing


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
