"""darktable writer: a crop appended to a developed history, byte for byte; refusals; marker.

metadata/darktable/merge.py.
"""

from __future__ import annotations

import re

import pytest

from cropperhead.geometry import (
    MIRRORED,
    ORIENTATIONS,
    Crop,
    crop_display_to_stored,
    crop_stored_to_display,
    display_size,
)
from cropperhead.metadata.darktable import (
    CROPPERHEAD_NS,
    crop_to_darktable_params,
    darktable_orientation,
    merge_crop_into_darktable,
    read_darktable_history,
    read_darktable_settings,
    written_by_cropperhead,
)
from tests.metadata.darktable_builders import (
    SH,
    SW,
    H,
    W,
    ashift_p,
    assert_same,
    developed,
    fixture,
    flip_p,
    li,
    packet,
    turned,
)

# --------------------------------------------------------------------------- writing


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


def test_the_marker_breaks_when_anyone_else_saves_the_file():
    merged = merge_crop_into_darktable(developed(), Crop(0.1, 0.1, 0.9, 0.9, 1.0), (SW, SH), 1)
    assert CROPPERHEAD_NS.encode() in merged
    assert written_by_cropperhead(merged)
    assert not written_by_cropperhead(merged.replace(b'xmp_version="5"', b'xmp_version="5" '))
    # Writing again replaces the marker's value (one marker, still matching).
    again = merge_crop_into_darktable(merged, Crop(0.2, 0.1, 0.9, 0.9, 0.0), (SW, SH), 1)
    assert again.count(b"cropperhead:SidecarDigest") == 1
    assert written_by_cropperhead(again)
