"""XMP reading: fixtures, forms, rules, fields, hostile input (metadata/xmp_read.py)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from cropperhead.geometry import Crop
from cropperhead.metadata.sidecar import read_sidecar
from cropperhead.metadata.types import (
    BAD_METADATA,
    INVALID_CROP,
    ORIGIN_EMBEDDED,
    ORIGIN_SIDECAR,
    SkipError,
)
from cropperhead.metadata.xmp_edit import merge_crop_into_xmp
from cropperhead.metadata.xmp_read import (
    CRS_NS,
    MAX_PACKET_BYTES,
    check_field_names,
    read_xmp_packets,
    read_xmp_properties,
    read_xmp_settings,
)
from tests.metadata.xmp_builders import BILLION_LAUGHS, RDF, crop_tuple, make_packet, settings_of

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


# --------------------------------------------------------------------------- exiftool


@pytest.mark.parametrize("value", ["1e309", "-1e309", "1e400", "\uff11", "0.\uff15", "\u0665"])
def test_overflowing_and_non_ascii_numbers_are_invalid_crops(value):
    """float() takes "１" (full-width) and Arabic-Indic digits, and "1e309" is infinity."""
    attrs = {"HasCrop": "True", "CropLeft": value, "CropTop": "0.1"}
    attrs |= {"CropRight": "0.9", "CropBottom": "0.9", "CropAngle": "0"}
    with pytest.raises(SkipError) as info:
        settings_of(make_packet(attrs))
    assert info.value.reason == INVALID_CROP
    assert "not a finite number" in info.value.detail
