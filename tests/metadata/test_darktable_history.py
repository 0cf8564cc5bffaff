"""darktable history: routing, which entries apply, broken input, pipe order, developed.

metadata/darktable/history.py.
"""

from __future__ import annotations

import pytest

from cropperhead.metadata.darktable import (
    is_darktable_xmp,
    is_developed,
    read_darktable_history,
    read_darktable_settings,
)
from cropperhead.metadata.types import BAD_METADATA, SkipError
from tests.metadata.darktable_builders import (
    approx_crop,
    clipping_p,
    crop_p,
    developed,
    fixture,
    flip_p,
    li,
    packet,
)

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


# --------------------------------------------------------------------------- bad input


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


# --------------------------------------------------------------------------- legacy versions


def test_custom_order_keeps_missing_modules_in_place():
    extra = ' darktable:iop_order_version="0" darktable:iop_order_list="crop,0,ashift,0"'
    order = read_darktable_history(packet([], extra=extra)).pipe_order()
    assert order.index("crop") < order.index("ashift") < order.index("flip")
    assert order.index("flip") < order.index("clipping")


# --------------------------------------------------------------------------- writing


def test_is_developed_rule():
    assert is_developed(developed())
    assert not is_developed(developed(auto="0"))
    assert not is_developed(developed(history_end=0))
    assert not is_developed(b"not xml")
