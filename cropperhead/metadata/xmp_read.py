"""Camera Raw develop settings in XMP packets: parse them, values in, values out.

:func:`read_xmp_settings` turns one XMP packet (a sidecar's bytes, or the packet
embedded in a photo) into :class:`~cropperhead.metadata.types.DevelopSettings`;
:func:`read_xmp_packets` does the same for several packets that describe one photo
(a JPEG's main packet plus its Extended XMP): their properties are merged and, where
both name a property, **the first packet (the main one) wins**. Nothing here touches a
file: the sidecar files are :mod:`cropperhead.metadata.sidecar`'s, the editor that writes a
crop back is :mod:`cropperhead.metadata.xmp_edit`, and :mod:`cropperhead.metadata.xmp`
gathers the public names of all three.

Packets are parsed with defusedxml: a DTD (so any entity, internal or external), malformed
XML or a packet over :data:`MAX_PACKET_BYTES` is refused with
``SkipError(BAD_METADATA, ...)`` before anything is expanded. UTF-16/32 packets (with a
byte order mark) are read; only UTF-8 packets are edited.

Properties are matched by namespace URI, never by prefix (``xap:`` and ``xmp:`` are the
same namespace), and only *top-level* properties count: attributes and child elements of
an ``rdf:Description`` directly under ``rdf:RDF``. There may be many such descriptions
(ExifTool writes one per namespace); where a property appears twice the first one wins.
Nested values such as a local correction's ``crs:What`` are never mistaken for
top-level settings.

Rule for ``has_settings`` (the packet carries Camera Raw develop settings at all):

1. ``crs:HasCrop`` True: settings (the crop is itself a develop setting; Lightroom writes
   a crop-only edit with HasCrop/AlreadyApplied and no HasSettings).
2. Otherwise, where ``crs:HasSettings`` is present, its value decides.
3. Otherwise the presence of ``crs:HasCrop`` (False) or ``crs:AlreadyApplied`` (either
   value) means settings.
4. Anything else, no settings: crs:Crop* values without any of the three flags (a
   Lightroom "save metadata" of a never-developed file writes 0/0/1/1/0), a lone
   crs:RawFileName, or crop values in pixels from other tools.

``has_crop`` is True only when ``crs:HasCrop`` is True. Then the crop is read: missing
CropLeft/CropTop default to 0, missing CropRight/CropBottom to 1 and a missing CropAngle
to 0 (the values of an unset crop: a Lightroom catalog leaves the keys out for an
uncropped photo, and an edge that was never moved is the image border). Values that are not
numbers, NaN, infinite, outside [0, 1] (edges) or outside +-45 degrees (angle) raise
``SkipError(INVALID_CROP, ...)`` quoting the value. Crops in **pixels** (edges above 1,
as old tools wrote with ``crs:CropUnit``/``CropUnits`` 0) are unsupported and raise
INVALID_CROP with a detail that says so. Whether the turned rectangle lies inside the
photo depends on its size and is the scan's check (:mod:`cropperhead.scan.rules`, with
:func:`cropperhead.geometry.crop_is_inside`).
Booleans are ``True``/``False`` in any case; anything else in crs:HasCrop, HasSettings or
AlreadyApplied is BAD_METADATA. ``orientation`` is ``tiff:Orientation`` when it is an
integer 1..8, else None.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree as DefusedET

from cropperhead.geometry import Crop
from cropperhead.metadata.types import (
    BAD_METADATA,
    INVALID_CROP,
    ORIGIN_DARKTABLE,
    ORIGIN_EMBEDDED,
    ORIGIN_LRCAT,
    ORIGIN_SIDECAR,
    DevelopSettings,
    SkipError,
)
from cropperhead.metadata.xml_spans import PADDING, XPACKET_END_RE

# The public module's name, as before the split: log lines show it ("WARNING
# cropperhead.metadata.xmp: ...") and a user's logging configuration names it.
logger = logging.getLogger("cropperhead.metadata.xmp")

__all__ = [
    "CRS_NS",
    "MAX_PACKET_BYTES",
    "NAMESPACES",
    "RDF_NS",
    "TIFF_NS",
    "UNICODE_BOMS",
    "XML_NS",
    "XMP_NOTE_NS",
    "X_NS",
    "check_field_names",
    "extended_xmp_guid",
    "is_already_applied",
    "parse_packet",
    "read_xmp_packets",
    "read_xmp_properties",
    "read_xmp_settings",
]

#: Largest XMP packet (and sidecar file) read or edited: 32 MiB.
MAX_PACKET_BYTES = 32 * 1024 * 1024

CRS_NS = "http://ns.adobe.com/camera-raw-settings/1.0/"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
TIFF_NS = "http://ns.adobe.com/tiff/1.0/"
XMP_NOTE_NS = "http://ns.adobe.com/xmp/note/"
XML_NS = "http://www.w3.org/XML/1998/namespace"
X_NS = "adobe:ns:meta/"

#: Prefixes accepted in ``--field PREFIX:Name`` and the namespace each one means.
NAMESPACES: dict[str, str] = {
    "crs": CRS_NS,
    "tiff": TIFF_NS,
    "exif": "http://ns.adobe.com/exif/1.0/",
    "exifEX": "http://cipa.jp/exif/1.0/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "xap": "http://ns.adobe.com/xap/1.0/",
    "xmpMM": "http://ns.adobe.com/xap/1.0/mm/",
    "xmpRights": "http://ns.adobe.com/xap/1.0/rights/",
    "xmpNote": XMP_NOTE_NS,
    "dc": "http://purl.org/dc/elements/1.1/",
    "photoshop": "http://ns.adobe.com/photoshop/1.0/",
    "aux": "http://ns.adobe.com/exif/1.0/aux/",
    "lr": "http://ns.adobe.com/lightroom/1.0/",
    "Iptc4xmpCore": "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/",
    "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
    "darktable": "http://darktable.sf.net/",
}

_ORIGINS = (ORIGIN_SIDECAR, ORIGIN_EMBEDDED, ORIGIN_LRCAT, ORIGIN_DARKTABLE)
_FIELD_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_.-]*):([A-Za-z_][A-Za-z0-9_.-]*)")
# An XMP Real: optional sign, digits with an optional fraction, optional exponent.
#: A plain decimal number, ASCII digits only (Python's \d and float() also take "１２").
_REAL_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_EDGE_DEFAULTS = {"CropLeft": 0.0, "CropTop": 0.0, "CropRight": 1.0, "CropBottom": 1.0}
#: Byte order marks of UTF-16/32 packets (read, never edited).
UNICODE_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")

# A property's value: a string for simple values and arrays ("; "-joined items), None for
# structures and other shapes that have no single string value.
Properties = dict[tuple[str, str], str | None]


def check_field_names(fields: Iterable[str]) -> list[str]:
    """Validate ``--field`` names up front.

    Args:
        fields: names like ``crs:Exposure2012``, ``tiff:Make`` or ``dc:subject``; the
            prefix must be one of :data:`NAMESPACES`.

    Returns:
        The names, in order, without duplicates.

    Raises:
        ValueError: a name is not ``PREFIX:Name`` or its prefix is unknown (quoted).
    """
    if isinstance(fields, str):
        raise TypeError(f"fields must be a sequence of names, not the string {fields!r}")
    names: list[str] = []
    for name in fields:
        if not isinstance(name, str):
            raise TypeError(f"field name must be a string, got {name!r}")
        match = _FIELD_RE.fullmatch(name)
        if match is None:
            raise ValueError(
                f"field {name!r} is not of the form PREFIX:Name (e.g. crs:Exposure2012)"
            )
        if match.group(1) not in NAMESPACES:
            known = ", ".join(sorted(NAMESPACES))
            raise ValueError(
                f"field {name!r} has an unknown prefix {match.group(1)!r} (known: {known})"
            )
        if name not in names:
            names.append(name)
    return names


def _clean_packet(packet: bytes | str) -> bytes:
    """Bytes ready for the XML parser: size-checked, padding and trailing junk cut."""
    if isinstance(packet, str):
        packet = packet.encode("utf-8")
    elif isinstance(packet, (bytearray, memoryview)):
        packet = bytes(packet)
    elif not isinstance(packet, bytes):
        raise TypeError(f"an XMP packet must be bytes or str, got {type(packet).__name__}")
    if len(packet) > MAX_PACKET_BYTES:
        raise SkipError(
            BAD_METADATA, f"XMP packet of {len(packet)} bytes exceeds {MAX_PACKET_BYTES} bytes"
        )
    if packet.startswith(UNICODE_BOMS):
        packet = _recode_to_utf8(packet)
    data = packet.strip(PADDING)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:].lstrip(PADDING)
    # Everything after the closing xpacket PI is padding or garbage (a lying segment
    # length, NUL fill); the parser would call it "junk after document element".
    end = XPACKET_END_RE.search(data)
    if end is not None:
        data = data[: end.end()]
    return data


def _recode_to_utf8(packet: bytes) -> bytes:
    """A UTF-16/32 packet (with its byte order mark) as UTF-8, without an XML declaration."""
    encoding = (
        "utf-32" if packet.startswith((b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00")) else "utf-16"
    )
    try:
        text = packet.decode(encoding)
    except UnicodeDecodeError as exc:
        raise SkipError(BAD_METADATA, f"XMP packet is not valid {encoding.upper()}") from exc
    return re.sub(r"^\s*<\?xml[^>]*\?>", "", text).encode("utf-8")


def parse_packet(packet: bytes | str) -> Element:
    """Parse one packet safely; every failure is ``SkipError(BAD_METADATA)``."""
    data = _clean_packet(packet)
    if not data:
        raise SkipError(BAD_METADATA, "empty XMP packet")
    try:
        return DefusedET.fromstring(data, forbid_dtd=True)
    except defusedxml.DefusedXmlException as exc:
        raise SkipError(BAD_METADATA, f"unsafe XMP refused ({type(exc).__name__})") from exc
    except ParseError as exc:
        raise SkipError(BAD_METADATA, f"malformed XMP: {exc}") from exc


def _split_tag(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        uri, _, local = tag[1:].partition("}")
        return uri, local
    return "", tag


def _top_level_descriptions(root: Element) -> list[Element]:
    rdf_blocks = [root] if root.tag == f"{{{RDF_NS}}}RDF" else []
    rdf_blocks += list(root.iter(f"{{{RDF_NS}}}RDF"))
    seen: set[int] = set()
    out = []
    for rdf in rdf_blocks:
        if id(rdf) in seen:
            continue
        seen.add(id(rdf))
        out += [child for child in rdf if child.tag == f"{{{RDF_NS}}}Description"]
    return out


def _element_value(elem: Element) -> str | None:
    """The string value of a property element, or None for a structure."""
    resource = elem.get(f"{{{RDF_NS}}}resource")
    if resource is not None:
        return resource
    children = list(elem)
    if not children:
        if any(_split_tag(a)[0] not in (RDF_NS, XML_NS) for a in elem.attrib):
            return None  # shorthand structure: <exif:Flash exif:Fired="False" .../>
        return elem.text or ""
    arrays = {f"{{{RDF_NS}}}{kind}" for kind in ("Bag", "Seq", "Alt")}
    if len(children) == 1 and children[0].tag in arrays:
        items = [_element_value(li) for li in children[0] if li.tag == f"{{{RDF_NS}}}li"]
        simple = [item for item in items if item is not None]
        if items and not simple:
            return None  # an array of structures (xmpMM:History)
        return "; ".join(simple)
    value = elem.find(f"{{{RDF_NS}}}value")
    if value is not None and not list(value):
        return value.text or ""  # a qualified simple value
    return None


def read_xmp_properties(packet: bytes | str) -> dict[tuple[str, str], str | None]:
    """All top-level properties of one packet, keyed by ``(namespace URI, name)``.

    Args:
        packet: one serialized XMP packet (with or without the xpacket wrapper).

    Returns:
        ``{(uri, name): value}``; arrays are their items joined with ``"; "``,
        structures are None. The first occurrence of a property wins.

    Raises:
        SkipError: BAD_METADATA for malformed or unsafe XML or an oversized packet.
    """
    root = parse_packet(packet)
    props: Properties = {}
    for desc in _top_level_descriptions(root):
        for name, value in desc.attrib.items():
            key = _split_tag(name)
            if key[0] in (RDF_NS, XML_NS, "") or key in props:
                continue
            props[key] = value
        for child in desc:
            if not isinstance(child.tag, str):
                continue  # comments and processing instructions
            key = _split_tag(child.tag)
            if key in props:
                logger.debug("XMP property %s repeated; keeping the first", child.tag)
                continue
            props[key] = _element_value(child)
    return props


def extended_xmp_guid(packet: bytes | str) -> str | None:
    """The GUID of the Extended XMP that a main packet names (xmpNote:HasExtendedXMP).

    Raises:
        SkipError: BAD_METADATA when the packet cannot be parsed safely.
    """
    value = read_xmp_properties(packet).get((XMP_NOTE_NS, "HasExtendedXMP"))
    return value.strip() if value else None


def _bool(props: Properties, name: str) -> bool | None:
    raw = props.get((CRS_NS, name), ...)
    if raw is ...:
        return None
    text = (raw or "").strip().lower()
    if text == "true":
        return True
    if text == "false":
        return False
    raise SkipError(BAD_METADATA, f"crs:{name} is {raw!r}, not True or False")


def _number(props: Properties, name: str, default: float) -> float:
    raw = props.get((CRS_NS, name), ...)
    if raw is ...:
        return default
    text = (raw or "").strip()
    value = float(text) if _REAL_RE.fullmatch(text) else math.nan
    if not math.isfinite(value):  # "1e309" overflows to infinity
        raise SkipError(INVALID_CROP, f"crs:{name} is {raw!r}, not a finite number")
    return value


def _read_crop(props: Properties) -> Crop:
    values = {name: _number(props, name, default) for name, default in _EDGE_DEFAULTS.items()}
    angle = _number(props, "CropAngle", 0.0)
    beyond = {k: v for k, v in values.items() if v > 1.0 + 1e-6}
    if beyond:
        units = None
        for unit_tag in ("CropUnit", "CropUnits"):
            units = units or props.get((CRS_NS, unit_tag))
        shown = ", ".join(f"crs:{k}={props.get((CRS_NS, k))}" for k in beyond)
        if (units or "").strip() == "0" or all(v.is_integer() for v in beyond.values()):
            raise SkipError(
                INVALID_CROP, f"crop edges look like pixels ({shown}); pixel crops are unsupported"
            )
        raise SkipError(INVALID_CROP, f"crop edges outside [0, 1]: {shown}")
    try:
        return Crop(
            values["CropLeft"], values["CropTop"], values["CropRight"], values["CropBottom"], angle
        )
    except (ValueError, TypeError) as exc:
        raise SkipError(INVALID_CROP, f"{exc} (crs:Crop* as stored)") from exc


def _orientation(props: Properties) -> int | None:
    raw = props.get((TIFF_NS, "Orientation"))
    if raw is None:
        return None
    text = raw.strip()
    if text.isdigit() and 1 <= int(text) <= 8:
        return int(text)
    logger.debug("ignoring tiff:Orientation %r: not an integer 1..8", raw)
    return None


def _settings_from_properties(
    props: Properties, origin: str, fields: list[str], source: Path | None
) -> DevelopSettings:
    has_crop_flag = _bool(props, "HasCrop")
    has_settings_flag = _bool(props, "HasSettings")
    applied_flag = _bool(props, "AlreadyApplied")
    if has_crop_flag:
        has_settings = True
    elif has_settings_flag is not None:
        has_settings = has_settings_flag
    else:
        has_settings = has_crop_flag is not None or applied_flag is not None
    has_crop = bool(has_crop_flag)
    crop = _read_crop(props) if has_crop else None
    extra = {}
    for name in fields:
        prefix, _, local = name.partition(":")
        value = props.get((NAMESPACES[prefix], local))
        if value is not None:
            extra[name] = value
    return DevelopSettings(
        origin=origin,
        has_settings=has_settings,
        has_crop=has_crop,
        crop=crop,
        crop_frame="stored",
        already_applied=bool(applied_flag),
        orientation=_orientation(props),
        fields=extra,
        source=source,
    )


def read_xmp_packets(
    packets: Sequence[bytes | str],
    origin: str,
    fields: Sequence[str] = (),
    source: Path | None = None,
) -> DevelopSettings:
    """Develop settings from several packets of one photo (main packet first).

    Properties of all packets are merged; where two packets hold the same property,
    the earlier packet wins (the main packet over its Extended XMP).

    Args:
        packets: serialized XMP packets, the main one first.
        origin: one of the ``ORIGIN_*`` constants.
        fields: extra ``PREFIX:Name`` properties to return in ``fields``.
        source: the file the packets came from.

    Returns:
        The settings; the crop (if any) is in the stored frame.

    Raises:
        ValueError: no packets, an unknown origin or a bad field name.
        SkipError: BAD_METADATA (unsafe/malformed XML, bad booleans) or INVALID_CROP.
    """
    names = check_field_names(fields)
    if origin not in _ORIGINS:
        raise ValueError(f"unknown origin {origin!r}; expected one of {_ORIGINS}")
    if isinstance(packets, (bytes, str)) or not packets:
        raise ValueError(f"expected a non-empty sequence of XMP packets, got {packets!r:.60}")
    merged: Properties = {}
    for packet in packets:
        for key, value in read_xmp_properties(packet).items():
            merged.setdefault(key, value)
    return _settings_from_properties(merged, origin, names, source)


def read_xmp_settings(
    packet: bytes | str,
    origin: str,
    fields: Sequence[str] = (),
    source: Path | None = None,
) -> DevelopSettings:
    """Develop settings from one XMP packet (see the module docstring for the rules).

    Args:
        packet: one serialized XMP packet (a sidecar's content, an embedded packet).
        origin: one of the ``ORIGIN_*`` constants.
        fields: extra ``PREFIX:Name`` properties to return in ``fields``, as stored.
        source: the file the packet came from.

    Returns:
        The settings; the crop (if any) is in the stored frame.

    Raises:
        ValueError: an unknown origin or a bad field name.
        SkipError: BAD_METADATA (unsafe/malformed XML, bad booleans) or INVALID_CROP.
    """
    return read_xmp_packets([packet], origin, fields, source)


def is_already_applied(packet: bytes) -> bool:
    """Whether a packet says ``crs:AlreadyApplied`` True; False also when it cannot be read."""
    try:
        return bool(_bool(read_xmp_properties(packet), "AlreadyApplied"))
    except SkipError:
        return False
