"""XMP develop settings: reading (fixtures, forms, rules, hostile input) and writing."""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import subprocess
import xml.parsers.expat
from collections import Counter
from pathlib import Path

import defusedxml.ElementTree as DefusedET
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cropperhead.geometry import Crop
from cropperhead.metadata import xmp
from cropperhead.metadata.types import (
    BAD_METADATA,
    INVALID_CROP,
    ORIGIN_EMBEDDED,
    ORIGIN_SIDECAR,
    UNREADABLE,
    SkipError,
)
from cropperhead.metadata.xmp import (
    CRS_NS,
    MAX_PACKET_BYTES,
    check_field_names,
    default_sidecar_path,
    format_xmp_number,
    merge_crop_into_xmp,
    read_sidecar,
    read_xmp_packets,
    read_xmp_properties,
    read_xmp_settings,
    sidecar_candidates,
    write_sidecar_crop,
)

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
CROP_NAMES = ("HasCrop", "CropLeft", "CropTop", "CropRight", "CropBottom", "CropAngle")


def make_packet(
    attrs: dict[str, str] | None = None,
    elems: dict[str, str] | None = None,
    *,
    crs_prefix: str = "crs",
    quote: str = '"',
    split: bool = False,
    extra_attrs: str = "",
    extra_body: str = "",
    wrapper: bool = True,
) -> bytes:
    """A Camera Raw packet; ``attrs``/``elems`` are crs property names -> values."""
    q = quote
    ns = f"xmlns:{crs_prefix}={q}{CRS_NS}{q}"
    other = (
        f"xmlns:tiff={q}http://ns.adobe.com/tiff/1.0/{q} "
        f"xmlns:dc={q}http://purl.org/dc/elements/1.1/{q} "
        f"xmlns:xmp={q}http://ns.adobe.com/xap/1.0/{q}"
    )
    attr_text = "".join(f"\n   {crs_prefix}:{k}={q}{v}{q}" for k, v in (attrs or {}).items())
    elem_text = "".join(
        f"\n   <{crs_prefix}:{k}>{v}</{crs_prefix}:{k}>" for k, v in (elems or {}).items()
    )
    if split:  # ExifTool layout: one description per namespace
        body = (
            f"  <rdf:Description rdf:about={q}{q} {other}{extra_attrs}>{extra_body}\n"
            f"  </rdf:Description>\n"
            f"  <rdf:Description rdf:about={q}{q} {ns}{attr_text}>{elem_text}\n"
            f"  </rdf:Description>\n"
        )
    else:
        body = (
            f"  <rdf:Description rdf:about={q}{q} {other} {ns}{extra_attrs}{attr_text}>"
            f"{extra_body}{elem_text}\n  </rdf:Description>\n"
        )
    text = f"<rdf:RDF xmlns:rdf={q}{RDF}{q}>\n{body} </rdf:RDF>"
    if wrapper:
        text = (
            f"<?xpacket begin={q}\ufeff{q} id={q}W5M0MpCehiHzreSzNTczkc9d{q}?>\n"
            f"<x:xmpmeta xmlns:x={q}adobe:ns:meta/{q}>\n{text}\n</x:xmpmeta>\n"
            f"<?xpacket end={q}w{q}?>"
        )
    return text.encode("utf-8")


def settings_of(packet: bytes | str, **kwargs):
    return read_xmp_settings(packet, ORIGIN_SIDECAR, **kwargs)


def crop_tuple(crop: Crop) -> tuple[float, ...]:
    return (crop.left, crop.top, crop.right, crop.bottom, crop.angle)


# --------------------------------------------------------------------------- fixtures

# file -> (has_settings, has_crop, already_applied, crop or None, orientation)
SIDECAR_FIXTURES = {
    "sidecar/testimagedesc1.xmp": (True, True, False, (0.140541, 0, 1, 0.859459, 0), None),
    "sidecar/IMG_5910.xmp": (True, True, True, (0, 0.231776, 0.768224, 1, 0), None),
    "xmp/IMG_5910.jpg.xmp": (True, True, True, (0, 0.231776, 0.768224, 1, 0), 1),
    "xmp/ladybug.xmp": (True, True, True, (0.190999, 0.266726, 0.779695, 0.929009, 0), 1),
    "xmp/flatxmp.xmp": (True, False, True, None, 1),
    "xmp/canon_eos_6d.xmp": (True, False, False, None, 1),
    "xmp/XMP.xmp": (False, False, False, None, 1),
    "darktable/highlight-opposed.xmp": (False, False, False, None, None),
}


@pytest.mark.parametrize("name", sorted(SIDECAR_FIXTURES))
def test_sidecar_fixtures_known_answers(shared_fixtures: Path, name: str) -> None:
    has_settings, has_crop, applied, crop, orientation = SIDECAR_FIXTURES[name]
    path = shared_fixtures / name
    got = read_sidecar(path)
    assert got.origin == ORIGIN_SIDECAR
    assert got.source == path
    assert got.has_settings is has_settings
    assert got.has_crop is has_crop
    assert got.already_applied is applied
    assert got.orientation == orientation
    assert got.crop_frame == "stored"
    if crop is None:
        assert got.crop is None
    else:
        assert crop_tuple(got.crop) == pytest.approx(crop, abs=1e-9)


def test_fixture_fields_exact_strings(shared_fixtures: Path) -> None:
    got = read_sidecar(
        shared_fixtures / "xmp/ladybug.xmp",
        fields=["crs:Exposure2012", "crs:CameraProfile", "tiff:Make", "dc:subject", "xmp:Rating"],
    )
    assert got.fields["crs:Exposure2012"] == "0.00"  # as stored, not 0.0
    assert got.fields["crs:CameraProfile"] == "Embedded"
    assert got.fields["tiff:Make"] == "Canon"
    assert got.fields["dc:subject"] == "Ladybug"
    desc = read_sidecar(
        shared_fixtures / "sidecar/testimagedesc1.xmp",
        fields=["dc:subject", "dc:title", "xmpMM:History", "photoshop:City", "crs:Temperature"],
    )
    assert desc.fields["dc:subject"] == (
        "Berkley; USA; special_chars űáéúőóüío?._:; squirrel; űáéúőóüö ŰÁÉÚŐÓÜÖ"
    )
    assert desc.fields["dc:title"] == "Test caption"
    assert desc.fields["photoshop:City"] == "test city őúéáűóöí-.,)(=/%!+\"'"
    assert "xmpMM:History" not in desc.fields  # an array of structures has no string value
    assert "crs:Temperature" not in desc.fields  # absent


def test_sidecar_and_embedded_legacy_xap_prefix() -> None:
    packet = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="' + RDF.encode() + b'">'
        b'<rdf:Description xmlns:xap="http://ns.adobe.com/xap/1.0/" xap:Rating="4"'
        b' xmlns:cr="' + CRS_NS.encode() + b'" cr:HasCrop="True" cr:CropLeft="0.25"/>'
        b"</rdf:RDF></x:xmpmeta>"
    )
    got = settings_of(packet, fields=["xmp:Rating", "xap:Rating"])
    assert got.fields == {"xmp:Rating": "4", "xap:Rating": "4"}
    assert got.has_crop
    assert crop_tuple(got.crop) == (0.25, 0, 1, 1, 0)


def test_prefix_bound_to_another_namespace_is_not_camera_raw() -> None:
    packet = make_packet({"HasCrop": "True", "CropLeft": "0.3"}).replace(
        CRS_NS.encode(), b"http://example.com/not-camera-raw/"
    )
    got = settings_of(packet)
    assert not got.has_settings
    assert not got.has_crop


# --------------------------------------------------------------------------- forms


CROP_VALUES = {"CropLeft": "0.1", "CropTop": "+0.2", "CropRight": "0.9", "CropBottom": "0.85"}


@pytest.mark.parametrize("form", ["attr", "elem", "mixed"])
@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize("quote", ['"', "'"])
def test_attribute_and_element_forms_agree(form: str, split: bool, quote: str) -> None:
    values = {**CROP_VALUES, "CropAngle": "-3.01", "HasCrop": "True"}
    names = list(values)
    if form == "attr":
        attrs, elems = values, {}
    elif form == "elem":
        attrs, elems = {}, values
    else:
        attrs = {k: values[k] for k in names[::2]}
        elems = {k: values[k] for k in names[1::2]}
    got = settings_of(make_packet(attrs, elems, split=split, quote=quote, crs_prefix="cr"))
    assert got.has_settings
    assert got.has_crop
    assert crop_tuple(got.crop) == pytest.approx((0.1, 0.2, 0.9, 0.85, -3.01))


def test_packet_without_wrapper_and_str_input_and_padding() -> None:
    bare = make_packet({"HasCrop": "True", "CropLeft": "0.5"}, wrapper=False)
    assert settings_of(bare).crop.left == 0.5
    assert settings_of(bare.decode()).crop.left == 0.5
    padded = make_packet({"HasCrop": "True", "CropLeft": "0.5"}) + b" " * 2048 + b"\x00\x00junk"
    assert settings_of(b"\n\x00" + padded).crop.left == 0.5


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_packets(encoding: str) -> None:
    text = make_packet({"HasCrop": "True", "CropLeft": "0.5"}).decode()
    declared = f'<?xml version="1.0" encoding="{encoding.upper()}"?>\n' + text
    for variant in (text, declared):
        data = variant.encode(encoding)
        if not data.startswith((b"\xff\xfe", b"\xfe\xff")):
            data = "\ufeff".encode(encoding) + data  # big-endian codecs write no BOM
        assert settings_of(data).crop.left == 0.5


def test_nested_values_are_not_top_level_settings() -> None:
    nested = (
        "\n   <crs:PaintBasedCorrections><rdf:Seq><rdf:li>"
        '<rdf:Description crs:CropLeft="0.9" crs:HasCrop="False" crs:Version="+2"/>'
        "</rdf:li></rdf:Seq></crs:PaintBasedCorrections>"
    )
    got = settings_of(
        make_packet(elems={"HasCrop": "True", "CropLeft": "0.1"}, extra_body=nested),
        fields=["crs:Version", "crs:PaintBasedCorrections"],
    )
    assert got.has_crop
    assert got.crop.left == 0.1
    assert got.fields == {}  # nested Version is not top-level; a structure has no string


def test_first_description_wins_for_repeated_property() -> None:
    packet = make_packet({"HasCrop": "True", "CropLeft": "0.1"}, split=True).replace(
        b"xmlns:xmp=", b'crs:CropLeft="0.4" xmlns:crs="' + CRS_NS.encode() + b'" xmlns:xmp='
    )
    assert settings_of(packet).crop.left == 0.4


# --------------------------------------------------------------------------- rules

# (HasSettings, HasCrop, AlreadyApplied) -> has_settings; None = absent
HAS_SETTINGS_RULE = [
    ((None, None, None), False),
    (("True", None, None), True),
    (("False", None, None), False),
    ((None, "False", None), True),
    ((None, None, "True"), True),
    ((None, None, "False"), True),
    ((None, "True", "False"), True),  # testimagedesc1: a crop-only Lightroom edit
    (("False", "True", None), True),  # the crop is itself a develop setting
    (("False", "False", "True"), False),
    (("True", "False", "False"), True),
]


@pytest.mark.parametrize(("flags", "expected"), HAS_SETTINGS_RULE)
def test_has_settings_rule(flags: tuple[str | None, ...], expected: bool) -> None:
    names = ("HasSettings", "HasCrop", "AlreadyApplied")
    attrs = {name: value for name, value in zip(names, flags, strict=True) if value is not None}
    attrs.update({"CropTop": "0", "CropLeft": "0", "CropBottom": "1", "CropRight": "1"})
    attrs["RawFileName"] = "IMG_1.CR2"
    got = settings_of(make_packet(attrs))
    assert got.has_settings is expected
    assert got.has_crop is (flags[1] == "True")
    assert got.already_applied is (flags[2] == "True")


@pytest.mark.parametrize("text", ["True", "true", "TRUE", " True\n", "tRuE"])
def test_booleans_any_case(text: str) -> None:
    got = settings_of(make_packet(elems={"HasCrop": text, "AlreadyApplied": text.lower()}))
    assert got.has_crop
    assert got.already_applied


@pytest.mark.parametrize("name", ["HasCrop", "HasSettings", "AlreadyApplied"])
def test_bad_boolean_is_bad_metadata(name: str) -> None:
    with pytest.raises(SkipError) as info:
        settings_of(make_packet({name: "yes"}))
    assert info.value.reason == BAD_METADATA
    assert "'yes'" in info.value.detail


def test_missing_edges_take_camera_raw_defaults() -> None:
    got = settings_of(make_packet({"HasCrop": "True", "CropLeft": "0.2"}))
    assert crop_tuple(got.crop) == (0.2, 0.0, 1.0, 1.0, 0.0)
    assert crop_tuple(settings_of(make_packet({"HasCrop": "True"})).crop) == (0, 0, 1, 1, 0)


def test_crop_ignored_without_has_crop() -> None:
    got = settings_of(make_packet({"HasSettings": "True", "CropLeft": "nan", "CropRight": "7"}))
    assert got.has_settings
    assert not got.has_crop
    assert got.crop is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CropLeft", "nan"),
        ("CropLeft", "NaN"),
        ("CropTop", "inf"),
        ("CropRight", "-Infinity"),
        ("CropBottom", "abc"),
        ("CropLeft", ""),
        ("CropLeft", "1_0"),
        ("CropLeft", "-0.1"),
        ("CropBottom", "1.5"),
        ("CropAngle", "45.5"),
        ("CropAngle", "-60"),
        ("CropAngle", "1e3"),
    ],
)
def test_invalid_crop_values_quote_the_value(name: str, value: str) -> None:
    with pytest.raises(SkipError) as info:
        settings_of(make_packet({"HasCrop": "True", name: value}))
    assert info.value.reason == INVALID_CROP
    number = re.fullmatch(r"[+-]?\d+(\.\d*)?([eE]\d+)?", value)
    assert (repr(float(value)) if number else repr(value)) in info.value.detail


def test_angle_limits_are_inclusive() -> None:
    for angle in ("45", "-45", "44.999999"):
        got = settings_of(make_packet({"HasCrop": "True", "CropAngle": angle}))
        assert got.crop.angle == float(angle)


def test_pixel_crops_are_unsupported() -> None:
    # The odd/RESULT-OK_0008.jp2 case: pixels, no HasCrop -> not a crop at all.
    pixels = {"CropLeft": "0", "CropTop": "0", "CropRight": "3008", "CropBottom": "2000"}
    got = settings_of(make_packet(elems=pixels))
    assert not got.has_settings
    assert not got.has_crop
    assert got.crop is None
    for units in ({"CropUnit": "0"}, {"CropUnits": "0"}, {}):
        with pytest.raises(SkipError) as info:
            settings_of(make_packet({**pixels, **units, "HasCrop": "True"}))
        assert info.value.reason == INVALID_CROP
        assert "pixels" in info.value.detail
        assert "3008" in info.value.detail
    # Old Lightroom: CropUnit 0 describes CropWidth/Height; the edges are still fractions.
    old = {"HasCrop": "True", "CropRight": "0.683962", "CropUnit": "0", "CropWidth": "2659"}
    assert settings_of(make_packet(old)).crop.right == 0.683962


@pytest.mark.parametrize(
    ("form", "value", "expected"),
    [("attr", "6", 6), ("elem", "8", 8), ("attr", " 3 ", 3), ("attr", "0", None),
     ("attr", "9", None), ("elem", "abc", None), ("attr", "-1", None), ("attr", "", None)],
)  # fmt: skip
def test_orientation(
    form: str, value: str, expected: int | None, caplog: pytest.LogCaptureFixture
) -> None:
    extra_attrs = f' tiff:Orientation="{value}"' if form == "attr" else ""
    extra_body = f"<tiff:Orientation>{value}</tiff:Orientation>" if form == "elem" else ""
    with caplog.at_level(logging.DEBUG, logger="cropperhead.metadata.xmp"):
        got = settings_of(make_packet(extra_attrs=extra_attrs, extra_body=extra_body))
    assert got.orientation == expected
    if expected is None:
        assert any("Orientation" in r.getMessage() for r in caplog.records)


# --------------------------------------------------------------------------- fields


def test_fields_values_as_stored() -> None:
    body = (
        "<dc:subject><rdf:Bag><rdf:li>a</rdf:li><rdf:li>b c</rdf:li></rdf:Bag></dc:subject>"
        '<dc:title><rdf:Alt><rdf:li xml:lang="x-default">T</rdf:li></rdf:Alt></dc:title>'
        "<tiff:Make>Canon</tiff:Make>"
    )
    got = settings_of(
        make_packet(
            {"Exposure2012": "+0.35", "Temperature": "5500", "HasSettings": "True"},
            extra_attrs=' xmp:Rating="3"',
            extra_body=body,
            split=True,
        ),
        fields=["crs:Exposure2012", "crs:Temperature", "tiff:Make", "xmp:Rating", "dc:subject",
                "dc:title", "lr:hierarchicalSubject", "exif:ISO"],
    )  # fmt: skip
    assert got.fields == {
        "crs:Exposure2012": "+0.35",
        "crs:Temperature": "5500",
        "tiff:Make": "Canon",
        "xmp:Rating": "3",
        "dc:subject": "a; b c",
        "dc:title": "T",
    }


def test_check_field_names() -> None:
    assert check_field_names(["crs:Exposure2012", "dc:subject", "crs:Exposure2012"]) == [
        "crs:Exposure2012",
        "dc:subject",
    ]
    assert check_field_names([]) == []
    with pytest.raises(ValueError, match="'foo'"):
        check_field_names(["foo:Bar"])
    with pytest.raises(ValueError, match="'Exposure2012'"):
        check_field_names(["Exposure2012"])
    with pytest.raises(ValueError, match="'crs:'"):
        check_field_names(["crs:"])
    with pytest.raises(TypeError):
        check_field_names("crs:Exposure2012")
    with pytest.raises(ValueError, match="'nope'"):
        read_xmp_settings(make_packet(), ORIGIN_SIDECAR, fields=["nope:X"])


def test_unknown_origin_rejected() -> None:
    with pytest.raises(ValueError, match="'somewhere'"):
        read_xmp_settings(make_packet(), "somewhere")


# --------------------------------------------------------------------------- hostile input

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/" crs:RawFileName="&lol9;"/>
</rdf:RDF></x:xmpmeta>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY ext SYSTEM "file:///etc/passwd">]>
<x:xmpmeta xmlns:x="adobe:ns:meta/">&ext;</x:xmpmeta>"""

HOSTILE = {
    "billion-laughs": BILLION_LAUGHS,
    "external-entity": EXTERNAL_ENTITY,
    "bare-doctype": b'<!DOCTYPE x><x:xmpmeta xmlns:x="adobe:ns:meta/"/>',
    "malformed": b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF>',
    "unbound-prefix": b"<x:xmpmeta><crs:HasCrop>True</crs:HasCrop></x:xmpmeta>",
    "empty": b"",
    "nul-only": b"\x00\x00\x00",
    "not-xml": b"\xff\xd8\xff\xe0 binary",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_packets_are_bad_metadata(name: str) -> None:
    with pytest.raises(SkipError) as info:
        settings_of(HOSTILE[name])
    assert info.value.reason == BAD_METADATA
    assert "\n" not in info.value.detail
    with pytest.raises(ValueError, match="cannot be edited safely"):
        merge_crop_into_xmp(HOSTILE[name], Crop(0, 0, 1, 1, 0))


def test_oversized_packet_refused_before_parsing() -> None:
    big = b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>" + b" " * MAX_PACKET_BYTES + b"</x:xmpmeta>"
    with pytest.raises(SkipError) as info:
        settings_of(big)
    assert info.value.reason == BAD_METADATA
    assert str(MAX_PACKET_BYTES) in info.value.detail


# --------------------------------------------------------------------------- several packets


def test_read_xmp_packets_merges_main_first() -> None:
    main = make_packet({"HasCrop": "True", "CropLeft": "0.1"})
    extension = make_packet({"CropLeft": "0.7", "CropTop": "0.3", "AlreadyApplied": "True"})
    got = read_xmp_packets([main, extension], ORIGIN_EMBEDDED, source=Path("x.jpg"))
    assert crop_tuple(got.crop) == (0.1, 0.3, 1.0, 1.0, 0.0)
    assert got.already_applied
    assert got.origin == ORIGIN_EMBEDDED
    assert got.source == Path("x.jpg")
    with pytest.raises(ValueError, match="non-empty"):
        read_xmp_packets([], ORIGIN_EMBEDDED)
    with pytest.raises(SkipError):
        read_xmp_packets([main, b"<broken"], ORIGIN_EMBEDDED)


def test_read_xmp_properties_keys_by_uri() -> None:
    props = read_xmp_properties(make_packet({"HasCrop": "True"}, crs_prefix="zz"))
    assert props[(CRS_NS, "HasCrop")] == "True"


# --------------------------------------------------------------------------- sidecar files


def test_read_sidecar_errors(tmp_path: Path) -> None:
    with pytest.raises(SkipError) as info:
        read_sidecar(tmp_path / "missing.xmp")
    assert info.value.reason == UNREADABLE
    with pytest.raises(SkipError) as info:
        read_sidecar(tmp_path)  # a directory
    assert info.value.reason == UNREADABLE
    bad = tmp_path / "bad.xmp"
    bad.write_bytes(BILLION_LAUGHS)
    with pytest.raises(SkipError) as info:
        read_sidecar(bad)
    assert info.value.reason == BAD_METADATA


def _case_sensitive(folder: Path) -> bool:
    (folder / "probe").write_bytes(b"")
    sensitive = not (folder / "PROBE").exists()
    (folder / "probe").unlink()
    return sensitive


def test_sidecar_candidates_precedence(tmp_path: Path) -> None:
    photo = tmp_path / "IMG_1.CR2"
    photo.write_bytes(b"raw")
    assert sidecar_candidates(photo) == []
    (tmp_path / "IMG_1.CR2.xmp").write_bytes(b"<x/>")
    assert sidecar_candidates(photo) == [tmp_path / "IMG_1.CR2.xmp"]
    for name in ("IMG_1.xmp", "img_1.xmp", "IMG_10.xmp", "IMG_1.jpg.xmp", "IMG_1.xmp.bak"):
        (tmp_path / name).write_bytes(b"<x/>")
    assert [p.name for p in sidecar_candidates(photo)][:2] == ["IMG_1.xmp", "IMG_1.CR2.xmp"]
    assert default_sidecar_path(photo) == tmp_path / "IMG_1.xmp"
    assert default_sidecar_path(tmp_path / "README") == tmp_path / "README.xmp"
    if not _case_sensitive(tmp_path):
        return
    assert [p.name for p in sidecar_candidates(photo)] == ["IMG_1.xmp", "IMG_1.CR2.xmp"]
    (tmp_path / "IMG_1.XMP").write_bytes(b"<x/>")
    (tmp_path / "IMG_1.CR2.Xmp").write_bytes(b"<x/>")
    assert [p.name for p in sidecar_candidates(photo)] == [
        "IMG_1.xmp",
        "IMG_1.XMP",
        "IMG_1.CR2.xmp",
        "IMG_1.CR2.Xmp",
    ]
    (tmp_path / "IMG_1.xmp").unlink()
    assert sidecar_candidates(photo)[0] == tmp_path / "IMG_1.XMP"


def test_sidecar_candidates_of_missing_folder(tmp_path: Path) -> None:
    assert sidecar_candidates(tmp_path / "nope" / "IMG_1.jpg") == []


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
    parser.Parse(xmp._clean_packet(packet), True)
    return decls


def _signature(packet: bytes) -> Counter:
    """Every element and attribute except the crop ones: (tag, attrs, text) multiset."""
    crop_keys = {f"{{{CRS_NS}}}{name}" for name in CROP_NAMES}
    root = DefusedET.fromstring(xmp._clean_packet(packet), forbid_dtd=True)
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


MERGE_FIXTURES = [
    "sidecar/testimagedesc1.xmp",  # attributes, Lightroom layout
    "sidecar/IMG_5910.xmp",
    "xmp/ladybug.xmp",  # elements, ExifTool layout with single quotes
    "xmp/IMG_5910.jpg.xmp",  # elements
    "xmp/canon_eos_6d.xmp",  # HasCrop False element, no Crop* at all
    "xmp/flatxmp.xmp",
    "xmp/XMP.xmp",  # only crs:RawFileName
    "darktable/almost-all.xmp",  # no crs namespace at all
    "darktable/orientation-minus-90.xmp",
]


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


def test_write_sidecar_new_file(tmp_path: Path) -> None:
    path = tmp_path / "IMG_1.xmp"
    crop = Crop(0.1, 0.2, 0.9, 0.8, 2.0)
    assert write_sidecar_crop(path, crop) is None
    got = read_sidecar(path)
    assert crop_tuple(got.crop) == pytest.approx(crop_tuple(crop))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["IMG_1.xmp"]  # no temp files left
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_write_sidecar_backups(tmp_path: Path) -> None:
    path = tmp_path / "IMG_1.xmp"
    original = make_packet({"HasSettings": "True", "Exposure2012": "+1.00"})
    path.write_bytes(original)
    path.chmod(0o640)
    first, second = Crop(0.1, 0.1, 0.9, 0.9, 0), Crop(0.2, 0.2, 0.8, 0.8, 1)
    bak = write_sidecar_crop(path, first)
    assert bak == tmp_path / "IMG_1.xmp.bak"
    assert bak.read_bytes() == original
    assert path.stat().st_mode & 0o777 == 0o640
    after_first = path.read_bytes()
    # the same crop again: nothing to change, no new backup
    assert write_sidecar_crop(path, first) is None
    assert path.read_bytes() == after_first
    # a new crop: the older backup is never overwritten
    bak1 = write_sidecar_crop(path, second)
    assert bak1 == tmp_path / "IMG_1.xmp.bak.1"
    assert bak1.read_bytes() == after_first
    assert bak.read_bytes() == original
    # the newest backup already holds the current bytes: reuse it
    path.write_bytes(after_first)
    assert write_sidecar_crop(path, second) == bak1
    assert not (tmp_path / "IMG_1.xmp.bak.2").exists()
    assert write_sidecar_crop(path, first, backup=False) is None
    assert crop_tuple(read_sidecar(path).crop) == pytest.approx(crop_tuple(first))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "IMG_1.xmp",
        "IMG_1.xmp.bak",
        "IMG_1.xmp.bak.1",
    ]


def test_write_sidecar_refuses_bad_existing(tmp_path: Path) -> None:
    path = tmp_path / "IMG_1.xmp"
    path.write_bytes(BILLION_LAUGHS)
    with pytest.raises(ValueError, match="cannot be edited"):
        write_sidecar_crop(path, Crop(0.1, 0.1, 0.9, 0.9, 0))
    assert path.read_bytes() == BILLION_LAUGHS
    assert sorted(p.name for p in tmp_path.iterdir()) == ["IMG_1.xmp"]


def test_write_sidecar_failure_keeps_original(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "IMG_1.xmp"
    original = make_packet({"HasCrop": "False"})
    path.write_bytes(original)

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(xmp.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk on fire"):
        write_sidecar_crop(path, Crop(0.1, 0.1, 0.9, 0.9, 0), backup=False)
    assert path.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["IMG_1.xmp"]


def test_write_sidecar_through_symlink(tmp_path: Path) -> None:
    target = tmp_path / "real.xmp"
    target.write_bytes(make_packet({"HasCrop": "False"}))
    link = tmp_path / "IMG_1.xmp"
    link.symlink_to(target)
    write_sidecar_crop(link, Crop(0.1, 0.1, 0.9, 0.9, 0), backup=False)
    assert link.is_symlink()
    assert read_sidecar(target).has_crop


def test_write_warns_about_already_applied(tmp_path: Path, caplog) -> None:
    path = tmp_path / "IMG_1.xmp"
    path.write_bytes(make_packet({"HasCrop": "True", "AlreadyApplied": "True"}))
    with caplog.at_level(logging.WARNING, logger="cropperhead.metadata.xmp"):
        write_sidecar_crop(path, Crop(0.1, 0.1, 0.9, 0.9, 0), backup=False)
    assert any("AlreadyApplied" in r.getMessage() for r in caplog.records)
    assert read_sidecar(path).already_applied  # left as it was


# --------------------------------------------------------------------------- exiftool

EXIFTOOL = shutil.which("exiftool")


def _exiftool(path: Path) -> dict:
    out = subprocess.run(
        [EXIFTOOL, "-j", "-n", "-G1", "-a", "-XMP:all", str(path)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    record = json.loads(out.stdout)[0]
    record.pop("SourceFile")
    return record


@pytest.mark.skipif(EXIFTOOL is None, reason="exiftool is not installed")
@pytest.mark.parametrize("name", MERGE_FIXTURES + [None])
def test_exiftool_reads_what_we_write(shared_fixtures: Path, tmp_path: Path, name) -> None:
    path = tmp_path / (Path(name).name if name else "new.xmp")
    before: dict = {}
    if name:
        shutil.copyfile(shared_fixtures / name, path)
        before = _exiftool(path)
    crop = Crop(0.123456, 0.05, 0.9, 0.95, -2.5)
    write_sidecar_crop(path, crop, backup=False)
    after = _exiftool(path)
    assert after["XMP-crs:HasCrop"] is True
    got = [after[f"XMP-crs:Crop{k}"] for k in ("Left", "Top", "Right", "Bottom", "Angle")]
    assert got == pytest.approx(crop_tuple(crop), abs=1e-6)
    crop_keys = {f"XMP-crs:{n}" for n in CROP_NAMES}
    assert {k: v for k, v in after.items() if k not in crop_keys} == {
        k: v for k, v in before.items() if k not in crop_keys
    } | ({} if name else {"XMP-x:XMPToolkit": "CropperHead", "XMP-crs:AlreadyApplied": False})


def test_read_capped_checks_the_size_first(tmp_path):
    from cropperhead.metadata.xmp import read_capped

    path = tmp_path / "a.xmp"
    path.write_bytes(b"x" * 100)
    assert read_capped(path, limit=100) == b"x" * 100
    with pytest.raises(SkipError, match="larger than 99 bytes") as info:
        read_capped(path, limit=99)
    assert info.value.reason == "bad-metadata"
    path.write_bytes(b"")
    assert read_capped(path) == b""
    with pytest.raises(FileNotFoundError):
        read_capped(tmp_path / "missing.xmp")


def test_read_capped_notices_a_file_that_grows_while_read(tmp_path, monkeypatch):
    import os

    from cropperhead.metadata import xmp

    path = tmp_path / "a.xmp"
    path.write_bytes(b"x" * 10)
    real_fstat = os.fstat

    def stale_fstat(fd):  # the size as it was before something appended to the file
        result = real_fstat(fd)
        return os.stat_result((*result[:6], 4, *result[7:]))

    monkeypatch.setattr(xmp.os, "fstat", stale_fstat)
    assert xmp.read_capped(path, limit=10) == b"x" * 10
    with pytest.raises(SkipError, match="larger than 9 bytes"):
        xmp.read_capped(path, limit=9)


@pytest.mark.parametrize("value", ["1e309", "-1e309", "1e400", "\uff11", "0.\uff15", "\u0665"])
def test_overflowing_and_non_ascii_numbers_are_invalid_crops(value):
    """float() takes "１" (full-width) and Arabic-Indic digits, and "1e309" is infinity."""
    attrs = {"HasCrop": "True", "CropLeft": value, "CropTop": "0.1"}
    attrs |= {"CropRight": "0.9", "CropBottom": "0.9", "CropAngle": "0"}
    with pytest.raises(SkipError) as info:
        settings_of(make_packet(attrs))
    assert info.value.reason == INVALID_CROP
    assert "not a finite number" in info.value.detail


def test_a_fifo_sidecar_is_refused_at_once(tmp_path):
    fifo = tmp_path / "IMG.xmp"
    os.mkfifo(fifo)
    with pytest.raises(SkipError) as info:
        read_sidecar(fifo)
    assert info.value.reason == UNREADABLE
    assert "FIFO" in info.value.detail


# --------------------------------------------------------------------------- the photo's frame

TIFF = "http://ns.adobe.com/tiff/1.0/"
FRAME_NAMES = ("ImageWidth", "ImageLength", "Orientation")
_FRAME_TEXT_RE = re.compile(
    rb'\s+(?:xmlns:tiff="http://ns.adobe.com/tiff/1.0/"|tiff:(?:ImageWidth|ImageLength|Orientation)="[0-9]+")'
)


def _tiff(packet: bytes) -> dict[str, str | None]:
    props = read_xmp_properties(packet)
    return {name: props.get((TIFF, name)) for name in FRAME_NAMES}


def test_a_new_packet_carries_the_stored_frame() -> None:
    crop = Crop(0.1, 0.2, 0.8, 0.9, 3.0)
    packet = merge_crop_into_xmp(None, crop, image_size=(6000, 4000), orientation=6)
    assert _tiff(packet) == {"ImageWidth": "6000", "ImageLength": "4000", "Orientation": "6"}
    got = settings_of(packet)
    assert got.orientation == 6
    assert crop_tuple(got.crop) == pytest.approx(crop_tuple(crop), abs=1e-6)
    # Without the frame the packet is exactly what it always was.
    assert b"tiff" not in merge_crop_into_xmp(None, crop)


@pytest.mark.parametrize("name", MERGE_FIXTURES)
def test_merge_adds_the_frame_only_where_absent(shared_fixtures: Path, name: str) -> None:
    before = (shared_fixtures / name).read_bytes()
    had = _tiff(before)
    size, orientation = (5472, 3648), 1
    crop = Crop(0.123456, 0.05, 0.9, 0.95, -2.5)
    after = merge_crop_into_xmp(before, crop, image_size=size, orientation=orientation)
    conflicts = xmp.tiff_conflicts(before, size, orientation)
    now = _tiff(after)
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
    assert _tiff(merged)["ImageWidth"] == "6020"  # within 1%: the same frame, nothing to add
    assert xmp.tiff_conflicts(same, (6000, 4000)) == []
    half = make_packet({"HasSettings": "True"}, extra_attrs=' tiff:ImageWidth="6000"')
    merged = merge_crop_into_xmp(half, Crop(0.1, 0.1, 0.9, 0.9, 0), image_size=(6000, 4000))
    assert _tiff(merged)["ImageLength"] == "4000"  # the consistent pair is completed
    other = make_packet(
        {"HasSettings": "True"},
        extra_attrs=' tiff:ImageWidth="4000" tiff:Orientation="8"',
    )
    merged = merge_crop_into_xmp(
        other, Crop(0.1, 0.1, 0.9, 0.9, 0), image_size=(6000, 4000), orientation=6
    )
    assert _tiff(merged) == {"ImageWidth": "4000", "ImageLength": None, "Orientation": "8"}
    lines = xmp.tiff_conflicts(other, (6000, 4000), 6)
    assert len(lines) == 2
    assert "4000 x ?" in lines[0]
    assert "6000 x 4000" in lines[0]
    assert "'8'" in lines[1]
    assert xmp.tiff_conflicts(None, (6000, 4000), 6) == []
    assert xmp.tiff_conflicts(b"<broken", (6000, 4000), 6) == []


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
    assert _tiff(merged) == {"ImageWidth": "300", "ImageLength": "200", "Orientation": "1"}


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
    assert _tiff(merged) == {"ImageWidth": "30", "ImageLength": "20", "Orientation": "3"}


@pytest.mark.parametrize(
    ("size", "orientation"),
    [((0, 10), None), ((10.5, 10), None), ((10,), None), (None, 9), (None, True), ("ab", None)],
)
def test_bad_frame_arguments(size, orientation) -> None:
    with pytest.raises(ValueError, match="image_size|orientation"):
        merge_crop_into_xmp(None, Crop(0, 0, 1, 1, 0), image_size=size, orientation=orientation)


def test_write_sidecar_adds_the_frame(tmp_path: Path) -> None:
    path = tmp_path / "IMG.xmp"
    path.write_bytes(make_packet({"HasSettings": "True"}))
    write_sidecar_crop(path, Crop(0.1, 0.1, 0.9, 0.9, 1.0), image_size=(64, 48), orientation=8)
    assert _tiff(path.read_bytes()) == {"ImageWidth": "64", "ImageLength": "48", "Orientation": "8"}
    # The same again changes nothing (no second backup).
    assert (
        write_sidecar_crop(path, Crop(0.1, 0.1, 0.9, 0.9, 1.0), image_size=(64, 48), orientation=8)
        is None
    )


@pytest.mark.skipif(EXIFTOOL is None, reason="exiftool is not installed")
def test_exiftool_reads_the_frame(tmp_path: Path) -> None:
    path = tmp_path / "IMG.xmp"
    path.write_bytes(
        merge_crop_into_xmp(None, Crop(0.1, 0.1, 0.9, 0.9, 1.0), image_size=(64, 48), orientation=6)
    )
    out = subprocess.run(
        [EXIFTOOL, "-j", "-n", "-XMP-tiff:all", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    got = json.loads(out.stdout)[0]
    assert (got["ImageWidth"], got["ImageHeight"], got["Orientation"]) == (64, 48, 6)
