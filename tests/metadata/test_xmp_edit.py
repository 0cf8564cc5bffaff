"""XMP editing: a crop and the photo's frame merged into packets (metadata/xmp_edit.py)."""

from __future__ import annotations

import math
import re
import shutil
import xml.parsers.expat
from collections import Counter
from pathlib import Path

import defusedxml.ElementTree as DefusedET
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cropperhead.geometry import Crop
from cropperhead.metadata import xmp_read
from cropperhead.metadata.sidecar import read_sidecar, write_sidecar_crop
from cropperhead.metadata.xmp_edit import format_xmp_number, merge_crop_into_xmp, tiff_conflicts
from cropperhead.metadata.xmp_read import CRS_NS, read_xmp_properties
from tests.metadata.xmp_builders import (
    CROP_NAMES,
    FRAME_NAMES,
    MERGE_FIXTURES,
    RDF,
    TIFF,
    crop_tuple,
    make_packet,
    settings_of,
    tiff_values,
)

# --------------------------------------------------------------------------- writing


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.140541, "0.140541"), (0.0, "0"), (1.0, "1"), (-0.0000001, "0"), (1.96311, "1.96311"),
     (-3.01, "-3.01"), (0.1234567, "0.123457"), (45.0, "45"), (0.9999996, "1")],
)  # fmt: skip
def test_format_xmp_number(value: float, text: str) -> None:
    assert format_xmp_number(value) == text


def test_format_xmp_number_rejects_non_finite() -> None:
    with pytest.raises(ValueError, match="nan"):
        format_xmp_number(math.nan)


crops = st.builds(
    lambda a, b, c, d, angle: Crop(min(a, b), min(c, d), max(a, b), max(c, d), angle),
    st.floats(0, 1),
    st.floats(0, 1),
    st.floats(0, 1),
    st.floats(0, 1),
    st.floats(-45, 45),
)


@given(crop=crops)
def test_new_packet_round_trip(crop: Crop) -> None:
    packet = merge_crop_into_xmp(None, crop)
    assert packet.startswith(b"<?xpacket begin=")
    assert packet.rstrip().endswith(b'<?xpacket end="w"?>')
    got = settings_of(packet)
    assert got.has_settings
    assert got.has_crop
    assert not got.already_applied
    assert crop_tuple(got.crop) == pytest.approx(crop_tuple(crop), abs=1e-6)
    props = read_xmp_properties(packet)
    assert (CRS_NS, "HasSettings") not in props
    assert props[(CRS_NS, "AlreadyApplied")] == "False"


def _namespace_decls(packet: bytes) -> Counter:
    decls: Counter = Counter()
    parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
    parser.StartNamespaceDeclHandler = lambda prefix, uri: decls.update([(prefix, uri)])
    parser.Parse(xmp_read._clean_packet(packet), True)
    return decls


def _signature(packet: bytes) -> Counter:
    """Every element and attribute except the crop ones: (tag, attrs, text) multiset."""
    crop_keys = {f"{{{CRS_NS}}}{name}" for name in CROP_NAMES}
    root = DefusedET.fromstring(xmp_read._clean_packet(packet), forbid_dtd=True)
    out: Counter = Counter()
    for elem in root.iter():
        if elem.tag in crop_keys:
            continue
        attrs = tuple(sorted((k, v) for k, v in elem.attrib.items() if k not in crop_keys))
        out[(elem.tag, attrs, (elem.text or "").strip(), (elem.tail or "").strip())] += 1
    return out


def _mask_crop_values(packet: bytes) -> bytes:
    names = b"|".join(name.encode() for name in CROP_NAMES)
    packet = re.sub(rb"(crs:(?:%s)\s*=\s*)([\"'])[^\"']*\2" % names, rb"\1\2V\2", packet)
    return re.sub(rb"(<crs:(%s)>)[^<]*(</crs:\2>)" % names, rb"\1V\3", packet)


def _check_merge(before: bytes, after: bytes, crop: Crop) -> None:
    got = settings_of(after)
    assert got.has_settings
    assert got.has_crop
    assert crop_tuple(got.crop) == pytest.approx(crop_tuple(crop), abs=1e-6)
    assert _signature(after) == _signature(before)
    decls_before, decls_after = _namespace_decls(before), _namespace_decls(after)
    added = decls_after - decls_before
    assert not decls_before - decls_after
    assert set(added) <= {("crs", CRS_NS)}
    others_before = read_xmp_properties(before)
    others_after = read_xmp_properties(after)
    for key in set(others_before) | set(others_after):
        if key[0] == CRS_NS and key[1] in CROP_NAMES:
            continue
        assert others_after.get(key) == others_before.get(key), key


@pytest.mark.parametrize("name", MERGE_FIXTURES)
def test_merge_into_real_sidecars(shared_fixtures: Path, tmp_path: Path, name: str) -> None:
    path = tmp_path / Path(name).name
    shutil.copyfile(shared_fixtures / name, path)
    before = path.read_bytes()
    crop = Crop(0.123456, 0.05, 0.9, 0.95, -2.5)
    backup = write_sidecar_crop(path, crop)
    after = path.read_bytes()
    assert backup == tmp_path / (path.name + ".bak")
    assert backup.read_bytes() == before
    _check_merge(before, after, crop)
    got = read_sidecar(path)
    assert crop_tuple(got.crop) == pytest.approx(crop_tuple(crop), abs=1e-6)
    if all(f"crs:{n}".encode() in before for n in CROP_NAMES):
        # every crop tag existed: only their values changed, byte for byte
        assert _mask_crop_values(after) == _mask_crop_values(before)


def test_merge_keeps_prefix_and_form(shared_fixtures: Path) -> None:
    ladybug = (shared_fixtures / "xmp/ladybug.xmp").read_bytes()
    out = merge_crop_into_xmp(ladybug, Crop(0.2, 0.3, 0.7, 0.8, 1.5))
    assert b"<crs:CropLeft>0.2</crs:CropLeft>" in out
    assert b"<crs:CropAngle>1.5</crs:CropAngle>" in out
    assert len(out) - len(ladybug) == len(b"0.20.30.70.81.5") - len(
        b"0.1909990.2667260.7796950.9290090"
    )
    renamed = make_packet({"HasCrop": "False", "CropLeft": "0"}, crs_prefix="cr")
    merged = merge_crop_into_xmp(renamed, Crop(0.25, 0, 1, 1, 0))
    assert b'cr:CropLeft="0.25"' in merged
    assert b'cr:HasCrop="True"' in merged
    assert b'cr:CropTop="0"' in merged
    assert b"crs:" not in merged
    assert merged.count(CRS_NS.encode()) == 1


def test_merge_adds_to_the_description_that_carries_crs() -> None:
    two = make_packet({"RawFileName": "IMG_1.CR2"}, split=True)  # crs lives in the second
    merged = merge_crop_into_xmp(two, Crop(0.1, 0.2, 0.8, 0.9, 0))
    second = merged.index(b"<rdf:Description", merged.index(b"<rdf:Description") + 1)
    assert merged.index(b'crs:HasCrop="True"') > merged.index(b"crs:RawFileName") > second
    no_crs = two.replace(b' xmlns:crs="' + CRS_NS.encode() + b'"', b"").replace(
        b'crs:RawFileName="IMG_1.CR2"', b""
    )
    merged = merge_crop_into_xmp(no_crs, Crop(0.1, 0.2, 0.8, 0.9, 0))
    second = merged.index(b"<rdf:Description", merged.index(b"<rdf:Description") + 1)
    assert merged.index(b'crs:HasCrop="True"') < second
    assert merged.count(b"xmlns:crs=") == 1


def test_merge_declares_fresh_prefix_when_crs_is_taken() -> None:
    packet = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="' + RDF.encode() + b'">'
        b'<rdf:Description rdf:about="" xmlns:crs="http://example.com/other/" crs:Foo="1"/>'
        b"</rdf:RDF></x:xmpmeta>"
    )
    crop = Crop(0.1, 0.1, 0.9, 0.9, 0)
    merged = merge_crop_into_xmp(packet, crop)
    assert b'xmlns:crs1="' + CRS_NS.encode() + b'"' in merged
    assert crop_tuple(settings_of(merged).crop) == pytest.approx(crop_tuple(crop))
    assert read_xmp_properties(merged)[("http://example.com/other/", "Foo")] == "1"


@pytest.mark.parametrize(
    "rdf",
    [b'<rdf:RDF xmlns:rdf="%s">\n</rdf:RDF>', b'<rdf:RDF xmlns:rdf="%s"/>'],
)
def test_merge_into_rdf_without_description(rdf: bytes) -> None:
    packet = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">' + rdf % RDF.encode() + b"</x:xmpmeta>"
    crop = Crop(0.1, 0.2, 0.8, 0.9, 3)
    merged = merge_crop_into_xmp(packet, crop)
    assert crop_tuple(settings_of(merged).crop) == pytest.approx(crop_tuple(crop))


@pytest.mark.parametrize(
    ("head", "tail"), [(b"\n\n", b"\x00\x00"), (b"\xef\xbb\xbf", b"\n"), (b"\x00 ", b"")]
)
def test_merge_keeps_padding_around_the_packet(head: bytes, tail: bytes) -> None:
    body = make_packet({"HasCrop": "False", "CropLeft": "0"}, wrapper=False)
    before = head + body + tail
    crop = Crop(0.1, 0.2, 0.8, 0.9, 3)
    after = merge_crop_into_xmp(before, crop)
    assert after.startswith(head)
    assert after.endswith(tail)
    _check_merge(before, after, crop)


def test_merge_without_rdf_is_refused() -> None:
    with pytest.raises(ValueError, match="rdf:RDF"):
        merge_crop_into_xmp(b'<x:xmpmeta xmlns:x="adobe:ns:meta/"/>', Crop(0, 0, 1, 1, 0))


def test_merge_rejects_utf16_and_wrong_types() -> None:
    with pytest.raises(ValueError, match="UTF-8"):
        merge_crop_into_xmp("<x/>".encode("utf-16"), Crop(0, 0, 1, 1, 0))
    with pytest.raises(TypeError):
        merge_crop_into_xmp(b"<x/>", (0, 0, 1, 1, 0))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        merge_crop_into_xmp("<x/>", Crop(0, 0, 1, 1, 0))  # type: ignore[arg-type]


def test_merge_replaces_structured_and_empty_crop_elements() -> None:
    body = (
        '\n   <crs:CropLeft rdf:parseType="Resource"><rdf:value>0.5</rdf:value></crs:CropLeft>'
        "\n   <crs:CropTop/>"
    )
    packet = make_packet({"HasCrop": "False"}, extra_body=body)
    assert read_xmp_properties(packet)[(CRS_NS, "CropLeft")] == "0.5"
    crop = Crop(0.1, 0.2, 0.8, 0.9, 0)
    merged = merge_crop_into_xmp(packet, crop)
    assert crop_tuple(settings_of(merged).crop) == pytest.approx(crop_tuple(crop))
    assert merged.count(b"CropLeft") == 2
    assert merged.count(b"CropTop") == 2


DARKTABLE_LIKE = b"""<?xml version="1.0" encoding="UTF-8"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/"
    xmlns:darktable="http://darktable.sf.net/"
   xmp:Rating="1"
   xmpMM:DerivedFrom="mire1.cr2"
   darktable:xmp_version="5"
   darktable:raw_params="0"
   darktable:auto_presets_applied="1"
   darktable:history_end="3"
   darktable:iop_order_version="2">
   <darktable:masks_history>
    <rdf:Seq/>
   </darktable:masks_history>
   <darktable:history>
    <rdf:Seq>
     <rdf:li
      darktable:num="0"
      darktable:operation="flip"
      darktable:enabled="1"
      darktable:modversion="2"
      darktable:params="ffffffff"
      darktable:multi_name=""
      darktable:multi_priority="0"
      darktable:blendop_version="13"
      darktable:blendop_params="gz11eJxjYGBgYAFiCQYYOOHEQDZgAQAjFwHD"/>
     <rdf:li
      darktable:num="1"
      darktable:operation="crop"
      darktable:enabled="1"
      darktable:modversion="1"
      darktable:params="0000000000000000cdcc4c3f0000803f0000000000000000"
      darktable:multi_name=""
      darktable:multi_priority="0"
      darktable:blendop_version="13"
      darktable:blendop_params="gz11eJxjYGBgYAFiCQYYOOHEQDZgAQAjFwHD"/>
    </rdf:Seq>
   </darktable:history>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""


def test_merge_into_darktable_sidecar_keeps_history(tmp_path: Path) -> None:
    path = tmp_path / "mire1.cr2.xmp"
    path.write_bytes(DARKTABLE_LIKE)
    crop = Crop(0.05, 0.1, 0.95, 0.9, -1.0)
    write_sidecar_crop(path, crop)
    after = path.read_bytes()
    _check_merge(DARKTABLE_LIKE, after, crop)
    history = DARKTABLE_LIKE[DARKTABLE_LIKE.index(b"   <darktable:masks_history>") :]
    assert after.endswith(history)  # everything after the description's start tag is intact
    assert after.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    assert b'darktable:iop_order_version="2"\n    xmlns:crs=' not in after
    assert b'darktable:iop_order_version="2"\n   xmlns:crs="' + CRS_NS.encode() in after


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    crop=crops,
    present=st.lists(st.sampled_from(CROP_NAMES), unique=True),
    as_elements=st.booleans(),
    split=st.booleans(),
    quote=st.sampled_from(['"', "'"]),
    prefix=st.sampled_from(["crs", "cr", "camera"]),
)
def test_merge_property(
    crop: Crop, present: list[str], as_elements: bool, split: bool, quote: str, prefix: str
) -> None:
    old = {n: ("False" if n == "HasCrop" else "0.5") for n in present}
    old.update({"Exposure2012": "+0.35", "RawFileName": "IMG_1.CR2"})
    before = make_packet(
        None if as_elements else old,
        old if as_elements else None,
        split=split,
        quote=quote,
        crs_prefix=prefix,
        extra_attrs=" xmp:Rating='2'" if quote == "'" else ' xmp:Rating="2"',
        extra_body="<dc:subject><rdf:Bag><rdf:li>k</rdf:li></rdf:Bag></dc:subject>",
    )
    after = merge_crop_into_xmp(before, crop)
    got = settings_of(after, fields=["crs:Exposure2012", "xmp:Rating", "dc:subject"])
    assert crop_tuple(got.crop) == pytest.approx(crop_tuple(crop), abs=1e-6)
    assert got.fields == {"crs:Exposure2012": "+0.35", "xmp:Rating": "2", "dc:subject": "k"}
    assert _signature(after) == _signature(before)
    for name in CROP_NAMES:  # no duplicates: each crop tag exactly once
        pattern = rb"\s\w+:%s\s*=|<\w+:%s[\s>/]" % (name.encode(), name.encode())
        assert len(re.findall(pattern, after)) == 1, name
    assert merge_crop_into_xmp(after, crop) == after  # idempotent


# --------------------------------------------------------------------------- the photo's frame

_FRAME_TEXT_RE = re.compile(
    rb'\s+(?:xmlns:tiff="http://ns.adobe.com/tiff/1.0/"|tiff:(?:ImageWidth|ImageLength|Orientation)="[0-9]+")'
)


def test_a_new_packet_carries_the_stored_frame() -> None:
    crop = Crop(0.1, 0.2, 0.8, 0.9, 3.0)
    packet = merge_crop_into_xmp(None, crop, image_size=(6000, 4000), orientation=6)
    assert tiff_values(packet) == {"ImageWidth": "6000", "ImageLength": "4000", "Orientation": "6"}
    got = settings_of(packet)
    assert got.orientation == 6
    assert crop_tuple(got.crop) == pytest.approx(crop_tuple(crop), abs=1e-6)
    # Without the frame the packet is exactly what it always was.
    assert b"tiff" not in merge_crop_into_xmp(None, crop)


@pytest.mark.parametrize("name", MERGE_FIXTURES)
def test_merge_adds_the_frame_only_where_absent(shared_fixtures: Path, name: str) -> None:
    before = (shared_fixtures / name).read_bytes()
    had = tiff_values(before)
    size, orientation = (5472, 3648), 1
    crop = Crop(0.123456, 0.05, 0.9, 0.95, -2.5)
    after = merge_crop_into_xmp(before, crop, image_size=size, orientation=orientation)
    conflicts = tiff_conflicts(before, size, orientation)
    now = tiff_values(after)
    for i, key in enumerate(("ImageWidth", "ImageLength")):
        if had[key] is not None or any("ImageWidth/ImageLength" in c for c in conflicts):
            assert now[key] == had[key]  # the user's value stays, whatever it says
        else:
            assert now[key] == str(size[i])
    assert now["Orientation"] == (had["Orientation"] or "1")
    assert bool(conflicts) == any(
        v is not None and v != w for v, w in zip(had.values(), ("5472", "3648", "1"), strict=True)
    )
    # Everything else as before: the other properties, and the bytes around the edits.
    props_before, props_after = read_xmp_properties(before), read_xmp_properties(after)
    for key in set(props_before) | set(props_after):
        if (key[0] == CRS_NS and key[1] in CROP_NAMES) or (
            key[0] == TIFF and key[1] in FRAME_NAMES
        ):
            continue
        assert props_after.get(key) == props_before.get(key), key
    if all(f"crs:{n}".encode() in before for n in CROP_NAMES):
        strip = lambda p: _FRAME_TEXT_RE.sub(b"", _mask_crop_values(p))  # noqa: E731
        assert strip(after) == strip(before)


def test_frame_values_already_there_are_kept_and_conflicts_reported() -> None:
    same = make_packet(
        {"HasSettings": "True"}, extra_attrs=' tiff:ImageWidth="6020" tiff:ImageLength="4010"'
    )
    merged = merge_crop_into_xmp(same, Crop(0.1, 0.1, 0.9, 0.9, 0), image_size=(6000, 4000))
    assert tiff_values(merged)["ImageWidth"] == "6020"  # within 1%: the same frame, nothing to add
    assert tiff_conflicts(same, (6000, 4000)) == []
    half = make_packet({"HasSettings": "True"}, extra_attrs=' tiff:ImageWidth="6000"')
    merged = merge_crop_into_xmp(half, Crop(0.1, 0.1, 0.9, 0.9, 0), image_size=(6000, 4000))
    assert tiff_values(merged)["ImageLength"] == "4000"  # the consistent pair is completed
    other = make_packet(
        {"HasSettings": "True"},
        extra_attrs=' tiff:ImageWidth="4000" tiff:Orientation="8"',
    )
    merged = merge_crop_into_xmp(
        other, Crop(0.1, 0.1, 0.9, 0.9, 0), image_size=(6000, 4000), orientation=6
    )
    assert tiff_values(merged) == {"ImageWidth": "4000", "ImageLength": None, "Orientation": "8"}
    lines = tiff_conflicts(other, (6000, 4000), 6)
    assert len(lines) == 2
    assert "4000 x ?" in lines[0]
    assert "6000 x 4000" in lines[0]
    assert "'8'" in lines[1]
    assert tiff_conflicts(None, (6000, 4000), 6) == []
    assert tiff_conflicts(b"<broken", (6000, 4000), 6) == []


def test_frame_elements_count_as_present() -> None:
    packet = make_packet(
        {"HasSettings": "True"},
        extra_body="\n   <tiff:ImageWidth>300</tiff:ImageWidth>"
        "<tiff:ImageLength>200</tiff:ImageLength>",
    )
    merged = merge_crop_into_xmp(
        packet, Crop(0.1, 0.1, 0.9, 0.9, 0), image_size=(300, 200), orientation=1
    )
    assert merged.count(b"ImageWidth") == 2  # start and end tag: not added again
    assert tiff_values(merged) == {"ImageWidth": "300", "ImageLength": "200", "Orientation": "1"}


def test_the_frame_goes_to_the_description_with_tiff_properties() -> None:
    two = make_packet({"RawFileName": "IMG_1.CR2"}, split=True, extra_attrs=' tiff:Make="Canon"')
    merged = merge_crop_into_xmp(
        two, Crop(0.1, 0.2, 0.8, 0.9, 0), image_size=(30, 20), orientation=3
    )
    second = merged.index(b"<rdf:Description", merged.index(b"<rdf:Description") + 1)
    assert merged.index(b'tiff:ImageWidth="30"') < second < merged.index(b'crs:HasCrop="True"')
    assert merged.count(b"xmlns:tiff=") == 1
    # No tiff namespace in scope: declared where the crop goes.
    bare = make_packet({"HasSettings": "True"}).replace(
        b'xmlns:tiff="http://ns.adobe.com/tiff/1.0/" ', b""
    )
    merged = merge_crop_into_xmp(
        bare, Crop(0.1, 0.2, 0.8, 0.9, 0), image_size=(30, 20), orientation=3
    )
    assert merged.count(b'xmlns:tiff="http://ns.adobe.com/tiff/1.0/"') == 1
    assert tiff_values(merged) == {"ImageWidth": "30", "ImageLength": "20", "Orientation": "3"}


@pytest.mark.parametrize(
    ("size", "orientation"),
    [((0, 10), None), ((10.5, 10), None), ((10,), None), (None, 9), (None, True), ("ab", None)],
)
def test_bad_frame_arguments(size, orientation) -> None:
    with pytest.raises(ValueError, match="image_size|orientation"):
        merge_crop_into_xmp(None, Crop(0, 0, 1, 1, 0), image_size=size, orientation=orientation)
