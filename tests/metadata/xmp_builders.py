"""Builders of XMP packets and checks shared by the XMP tests."""

from __future__ import annotations

from cropperhead.geometry import Crop
from cropperhead.metadata.types import ORIGIN_SIDECAR
from cropperhead.metadata.xmp_read import CRS_NS, read_xmp_properties, read_xmp_settings

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


#: An entity bomb: a DTD whose entities expand to gigabytes.
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


#: Real sidecars of every layout that the editor merges into.
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


TIFF = "http://ns.adobe.com/tiff/1.0/"
FRAME_NAMES = ("ImageWidth", "ImageLength", "Orientation")


def tiff_values(packet: bytes) -> dict[str, str | None]:
    props = read_xmp_properties(packet)
    return {name: props.get((TIFF, name)) for name in FRAME_NAMES}
