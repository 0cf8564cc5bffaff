"""Builders of darktable sidecars and checks shared by the darktable tests."""

from __future__ import annotations

import base64
import struct
import zlib

import pytest

from cropperhead.geometry import Crop, largest_crop

# mire1.cr2 is a Canon raw; any 3:2 size works (only the aspect matters).
W, H = 3888, 2592
#: The darktable reader's logger.
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
