"""Camera Raw develop settings in XMP: read them, and merge a crop back in.

Reading
-------
:func:`read_xmp_settings` turns one XMP packet (a sidecar's bytes, or the packet
embedded in a photo) into :class:`~cropperhead.metadata.types.DevelopSettings`;
:func:`read_xmp_packets` does the same for several packets that describe one photo
(a JPEG's main packet plus its Extended XMP): their properties are merged and, where
both name a property, **the first packet (the main one) wins**.

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
photo depends on its size and is the scan's check (:func:`cropperhead.geometry.check_crop_inside`).
Booleans are ``True``/``False`` in any case; anything else in crs:HasCrop, HasSettings or
AlreadyApplied is BAD_METADATA. ``orientation`` is ``tiff:Orientation`` when it is an
integer 1..8, else None.

Sidecars: :func:`sidecar_candidates` lists, in precedence order, ``IMG_1.xmp`` (what
Lightroom and Camera Raw write) and then ``IMG_1.CR2.xmp`` (darktable and others), each
with any capitalisation of the ``.xmp`` extension found on disk. When both exist the
Lightroom-style ``IMG_1.xmp`` wins: it is the one Lightroom reads and writes.

Writing
-------
:func:`merge_crop_into_xmp` edits the packet's *text*: it changes only the values of
crs:HasCrop (to True) and crs:CropLeft/Top/Right/Bottom/Angle (in the stored frame), in
place, wherever they appear as top-level attributes or elements, and adds the missing ones
as attributes of the top-level ``rdf:Description`` that already carries crs properties (or
the first one, declaring ``xmlns:crs`` there when no prefix for the namespace is in scope).
Every other byte is kept: other settings, keywords, history, prefixes, quoting and
whitespace. crs:CropConstrainToWarp, crs:AlreadyApplied, crs:HasSettings and
xmp:MetadataDate are left as they are: an absent CropConstrainToWarp means 0 (no
constraint), which suits a predicted plain rectangle, and a user's 1 is their choice.
Numbers are written like Lightroom writes them: at most 6 decimals, trailing zeros
dropped (``0.140541``, ``0``, ``1``, ``-1.96311``).

The photo's frame (``image_size`` and ``orientation``, optional): darktable imports a
Lightroom sidecar's crop only with ``tiff:ImageWidth``, ``tiff:ImageLength`` (it computes
turned crops with them; without them the crop is NaN) and ``tiff:Orientation``, all in the
**stored** frame, as Lightroom writes them. When the caller gives them they are added where
the packet has none. Values already there are never changed: equal ones (a size within 1%
or 2 px, the same orientation) need nothing, and different ones are the user's file
saying something else about the photo, left as they are and reported by
:func:`tiff_conflicts` (the caller tells the user). The size is one unit: when either
value disagrees, neither is added. They go to the ``rdf:Description`` that already
carries tiff properties, else to the one that receives the crop, declaring ``xmlns:tiff``
where no prefix for the namespace is in scope.

With no existing packet a minimal one is made, shaped like the crop-only sidecars that
Lightroom Classic itself writes (fixture sidecar/testimagedesc1.xmp): xpacket wrapper,
``x:xmpmeta/rdf:RDF/rdf:Description`` with CropTop/Left/Bottom/Right/Angle,
``HasCrop="True"`` and ``AlreadyApplied="False"`` (and the tiff frame, when given). It
deliberately has **no** crs:HasSettings and no crs:ProcessVersion: a HasSettings True
packet without a ProcessVersion risks Camera Raw reading every other setting under a
legacy process version, while the crop tags alone leave all other settings at their
defaults.

:func:`write_sidecar_crop` reads the sidecar, merges, and replaces the file atomically
(temporary file in the same folder, fsync, ``os.replace``), keeping the file's
permissions. Backups: before the first change the current sidecar is copied to
``NAME.xmp.bak``; later changes go to ``NAME.xmp.bak.1``, ``.bak.2``, ... (never
overwriting a backup), except that no new copy is made when the newest backup already
holds exactly the current bytes. Writing the same crop again changes nothing.
"""

from __future__ import annotations

import logging
import math
import os
import re
import xml.parsers.expat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree as DefusedET

from cropperhead import files
from cropperhead.geometry import Crop
from cropperhead.metadata.types import (
    BAD_METADATA,
    INVALID_CROP,
    ORIGIN_DARKTABLE,
    ORIGIN_EMBEDDED,
    ORIGIN_LRCAT,
    ORIGIN_SIDECAR,
    UNREADABLE,
    DevelopSettings,
    SkipError,
)

logger = logging.getLogger(__name__)

__all__ = [
    "MAX_PACKET_BYTES",
    "NAMESPACES",
    "check_field_names",
    "default_sidecar_path",
    "extended_xmp_guid",
    "format_xmp_number",
    "merge_crop_into_xmp",
    "read_capped",
    "read_sidecar",
    "read_xmp_packets",
    "read_xmp_properties",
    "read_xmp_settings",
    "sidecar_candidates",
    "tiff_conflicts",
    "write_sidecar_crop",
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
_XPACKET_END_RE = re.compile(rb"<\?xpacket\s+end\s*=[^>]*\?>")
_UNICODE_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")
_PADDING = b"\x00 \t\r\n"

# A property's value: a string for simple values and arrays ("; "-joined items), None for
# structures and other shapes that have no single string value.
_Properties = dict[tuple[str, str], str | None]


# --------------------------------------------------------------------------- reading


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
    if packet.startswith(_UNICODE_BOMS):
        packet = _recode_to_utf8(packet)
    data = packet.strip(b"\x00 \t\r\n")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:].lstrip(b"\x00 \t\r\n")
    # Everything after the closing xpacket PI is padding or garbage (a lying segment
    # length, NUL fill); the parser would call it "junk after document element".
    end = _XPACKET_END_RE.search(data)
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
    props: _Properties = {}
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


def _bool(props: _Properties, name: str) -> bool | None:
    raw = props.get((CRS_NS, name), ...)
    if raw is ...:
        return None
    text = (raw or "").strip().lower()
    if text == "true":
        return True
    if text == "false":
        return False
    raise SkipError(BAD_METADATA, f"crs:{name} is {raw!r}, not True or False")


def _number(props: _Properties, name: str, default: float) -> float:
    raw = props.get((CRS_NS, name), ...)
    if raw is ...:
        return default
    text = (raw or "").strip()
    value = float(text) if _REAL_RE.fullmatch(text) else math.nan
    if not math.isfinite(value):  # "1e309" overflows to infinity
        raise SkipError(INVALID_CROP, f"crs:{name} is {raw!r}, not a finite number")
    return value


def _read_crop(props: _Properties) -> Crop:
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


def _orientation(props: _Properties) -> int | None:
    raw = props.get((TIFF_NS, "Orientation"))
    if raw is None:
        return None
    text = raw.strip()
    if text.isdigit() and 1 <= int(text) <= 8:
        return int(text)
    logger.debug("ignoring tiff:Orientation %r: not an integer 1..8", raw)
    return None


def _settings_from_properties(
    props: _Properties, origin: str, fields: list[str], source: Path | None
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
    merged: _Properties = {}
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


def read_capped(path: Path, limit: int = MAX_PACKET_BYTES) -> bytes:
    """A small file's bytes (a sidecar), refusing one over ``limit`` bytes.

    Only a regular file is read (:func:`cropperhead.files.read_regular`): a FIFO or a
    device named like a sidecar is refused at once, never waited on.

    Raises:
        SkipError: BAD_METADATA for a file over ``limit`` bytes.
        OSError: the file cannot be read, or is not a regular file
            (:class:`cropperhead.files.NotRegularFileError`).
    """
    try:
        return files.read_regular(path, limit)
    except ValueError as exc:
        raise SkipError(BAD_METADATA, f"{Path(path).name} is larger than {limit} bytes") from exc


def read_sidecar(path: Path, fields: Sequence[str] = ()) -> DevelopSettings:
    """Develop settings from an XMP sidecar file.

    Args:
        path: the sidecar.
        fields: extra ``PREFIX:Name`` properties to return.

    Returns:
        Settings with origin ``xmp-sidecar`` and ``source=path``.

    Raises:
        ValueError: a bad field name.
        SkipError: UNREADABLE (the file cannot be read), BAD_METADATA, INVALID_CROP.
    """
    names = check_field_names(fields)
    path = Path(path)
    try:
        data = read_capped(path)
    except OSError as exc:
        detail = f"cannot read sidecar {str(path)!r}: {exc.strerror or exc}"
        raise SkipError(UNREADABLE, detail) from exc
    return read_xmp_settings(data, ORIGIN_SIDECAR, names, source=path)


def sidecar_candidates(photo: Path) -> list[Path]:
    """The XMP sidecars of ``photo`` that exist, in precedence order.

    ``IMG_1.xmp`` (Lightroom, Camera Raw) comes before ``IMG_1.CR2.xmp`` (darktable and
    others); within each, ``.xmp`` comes before other capitalisations (``.XMP``).
    The base name must match exactly; only the ``.xmp`` extension's case may differ.

    Args:
        photo: the photo.

    Returns:
        Existing sidecar paths, best first; empty when there is none or the folder
        cannot be listed.
    """
    photo = Path(photo)
    try:
        names = {entry.name for entry in os.scandir(photo.parent or ".") if entry.is_file()}
    except OSError:
        return []
    found: list[Path] = []
    for base in (photo.stem, photo.name):
        matches = [
            name
            for name in names
            if len(name) == len(base) + 4
            and name.startswith(base)
            and name[len(base) :].lower() == ".xmp"
            and name != photo.name
        ]
        matches.sort(key=lambda name: (name[len(base) :] != ".xmp", name))
        found += [photo.with_name(name) for name in matches if photo.with_name(name) not in found]
    return found


def default_sidecar_path(photo: Path) -> Path:
    """Where a new sidecar for ``photo`` goes: ``IMG_1.xmp`` beside ``IMG_1.CR2``."""
    photo = Path(photo)
    return photo.with_suffix(".xmp") if photo.suffix else photo.with_name(photo.name + ".xmp")


# --------------------------------------------------------------------------- writing

_WRITE_ORDER = ("CropTop", "CropLeft", "CropBottom", "CropRight", "CropAngle", "HasCrop")
_XPACKET_ID = "W5M0MpCehiHzreSzNTczkc9d"


def format_xmp_number(value: float) -> str:
    """A number as Lightroom writes crs values: <= 6 decimals, no trailing zeros.

    Raises:
        ValueError: ``value`` is not finite.
    """
    if not math.isfinite(value):
        raise ValueError(f"cannot write a non-finite number to XMP: {value!r}")
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _crop_values(crop: Crop) -> dict[str, str]:
    if not isinstance(crop, Crop):
        raise TypeError(f"crop must be a Crop, got {crop!r}")
    return {
        "CropTop": format_xmp_number(crop.top),
        "CropLeft": format_xmp_number(crop.left),
        "CropBottom": format_xmp_number(crop.bottom),
        "CropRight": format_xmp_number(crop.right),
        "CropAngle": format_xmp_number(crop.angle),
        "HasCrop": "True",
    }


#: The tiff properties of the photo's frame, in the order they are written.
_TIFF_ORDER = ("ImageWidth", "ImageLength", "Orientation")
#: How far a recorded size may be from the photo's and still be the same frame.
_SIZE_SLACK = (2, 0.01)


def _check_frame(image_size: tuple[int, int] | None, orientation: int | None) -> None:
    if image_size is not None:
        try:
            ok = len(image_size) == 2 and all(
                isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in image_size
            )
        except TypeError:
            ok = False
        if not ok:
            raise ValueError(
                f"image_size must be (width, height) in pixels > 0, got {image_size!r}"
            )
    if orientation is not None and (
        isinstance(orientation, bool) or orientation not in range(1, 9)
    ):
        raise ValueError(f"orientation must be an EXIF orientation 1..8, got {orientation!r}")


def _same_size(text: str | None, expected: int) -> bool:
    value = (text or "").strip()
    if not value.isdigit() or not value.isascii():
        return False
    slack = max(_SIZE_SLACK[0], _SIZE_SLACK[1] * expected)
    return abs(int(value) - expected) <= slack


def _tiff_plan(
    props: _Properties, image_size: tuple[int, int] | None, orientation: int | None
) -> tuple[dict[str, str], list[str]]:
    """The tiff values to add, and the conflicts with values already there."""
    add: dict[str, str] = {}
    conflicts: list[str] = []
    if image_size is not None:
        names = ("ImageWidth", "ImageLength")
        present = {n: props[(TIFF_NS, n)] for n in names if (TIFF_NS, n) in props}
        wrong = {n: v for n, v in present.items() if not _same_size(v, image_size[names.index(n)])}
        if wrong:
            shown = " x ".join(str(present.get(n, "?")) for n in names)
            conflicts.append(
                f"tiff:ImageWidth/ImageLength say {shown}, the photo is "
                f"{image_size[0]} x {image_size[1]} (stored frame)"
            )
        else:
            add |= {n: str(v) for n, v in zip(names, image_size, strict=True) if n not in present}
    if orientation is not None:
        raw = props.get((TIFF_NS, "Orientation"), ...)
        if raw is ...:
            add["Orientation"] = str(orientation)
        elif (raw or "").strip() != str(orientation):
            conflicts.append(
                f"tiff:Orientation says {raw!r}, the photo is shown with {orientation}"
            )
    return add, conflicts


def tiff_conflicts(
    existing: bytes | None,
    image_size: tuple[int, int] | None = None,
    orientation: int | None = None,
) -> list[str]:
    """Where a packet's tiff frame disagrees with the photo's (see the module docstring).

    Args:
        existing: the packet (None: a new one, which never conflicts).
        image_size: the photo's stored ``(width, height)`` in pixels, or None.
        orientation: the EXIF orientation the photo is shown with, or None.

    Returns:
        One human-readable line per disagreement (the size pair counts once); empty when
        the packet agrees, has no such values, or cannot be parsed.

    Raises:
        ValueError: a bad ``image_size`` or ``orientation``.
    """
    _check_frame(image_size, orientation)
    if existing is None:
        return []
    try:
        props = read_xmp_properties(existing)
    except SkipError:
        return []
    return _tiff_plan(props, image_size, orientation)[1]


def _new_packet(values: dict[str, str], tiff: dict[str, str]) -> bytes:
    attrs = "".join(f'\n   crs:{name}="{values[name]}"' for name in _WRITE_ORDER)
    tiff_decl = f'\n    xmlns:tiff="{TIFF_NS}"' if tiff else ""
    tiff_attrs = "".join(f'\n   tiff:{name}="{tiff[name]}"' for name in _TIFF_ORDER if name in tiff)
    text = (
        f'<?xpacket begin="\ufeff" id="{_XPACKET_ID}"?>\n'
        f'<x:xmpmeta xmlns:x="{X_NS}" x:xmptk="CropperHead">\n'
        f' <rdf:RDF xmlns:rdf="{RDF_NS}">\n'
        f'  <rdf:Description rdf:about=""\n'
        f'    xmlns:crs="{CRS_NS}"{tiff_decl}{attrs}\n'
        f'   crs:AlreadyApplied="False"{tiff_attrs}/>\n'
        f" </rdf:RDF>\n"
        f"</x:xmpmeta>\n"
        f'<?xpacket end="w"?>'
    )
    return text.encode("utf-8")


@dataclass
class _Attr:
    qname: bytes
    value_start: int
    value_end: int
    quote: bytes


@dataclass
class _Child:
    uri: str
    local: str
    start: int  # '<' of the start tag
    tag_end: int  # just after the start tag's '>'
    empty: bool
    end: int = -1  # just after the element (end tag's '>')
    inner_end: int = -1  # '<' of the end tag
    has_children: bool = False


@dataclass
class _Desc:
    start: int
    tag_end: int
    empty: bool
    scope: dict[str, str]  # prefix ('' = default) -> URI, everything in scope here
    attrs: list[tuple[str, str, _Attr]] = field(default_factory=list)  # (uri, local, attr)
    children: list[_Child] = field(default_factory=list)


@dataclass
class _Layout:
    descriptions: list[_Desc] = field(default_factory=list)
    rdf_start: int = -1
    rdf_tag_end: int = -1
    rdf_empty: bool = False
    rdf_scope: dict[str, str] = field(default_factory=dict)


def _tag_end(data: bytes, start: int) -> int:
    """Index just after the ``>`` that closes the tag opening at ``data[start] == '<'``."""
    quote = None
    for i in range(start + 1, len(data)):
        byte = data[i : i + 1]
        if quote is not None:
            if byte == quote:
                quote = None
        elif byte in (b'"', b"'"):
            quote = byte
        elif byte == b">":
            return i + 1
    raise ValueError(f"unterminated tag at byte {start}")


def _tag_attrs(data: bytes, start: int, end: int) -> dict[bytes, _Attr]:
    """The attributes of the start tag ``data[start:end]`` with their value spans."""
    attrs: dict[bytes, _Attr] = {}
    i = start + 1
    while i < end and data[i : i + 1] not in b" \t\r\n/>":
        i += 1
    while i < end:
        while i < end and data[i : i + 1] in b" \t\r\n":
            i += 1
        if i >= end or data[i : i + 1] in (b"/", b">"):
            break
        name_start = i
        while data[i : i + 1] not in b" \t\r\n=":
            i += 1
        qname = data[name_start:i]
        i = data.index(b"=", i) + 1
        while data[i : i + 1] in b" \t\r\n":
            i += 1
        quote = data[i : i + 1]
        close = data.index(quote, i + 1)
        attrs[qname] = _Attr(qname, i + 1, close, quote)
        i = close + 1
    return attrs


def _scan_layout(data: bytes, first: int, stop: int) -> _Layout:
    """Byte positions of the top-level descriptions and their properties (expat).

    Only ``data[first:stop]`` is parsed (the packet without padding); positions are
    indices into ``data``.
    """
    layout = _Layout()
    parser = xml.parsers.expat.ParserCreate(namespace_separator="\x01")
    parser.namespace_prefixes = True
    parser.ordered_attributes = True
    scopes: list[dict[str, str]] = [{"xml": XML_NS}]
    pending: dict[str, str] = {}
    stack: list[tuple[str, str]] = []  # (uri, local) of open elements
    open_desc: list[_Desc | None] = []
    open_child: list[_Child | None] = []

    def refuse(*_args: object) -> None:
        raise ValueError("XMP with a DTD or entities is not edited")

    def start_ns(prefix: str | None, uri: str | None) -> None:
        pending[prefix or ""] = uri or ""

    def start(name: str, attributes: list[str]) -> None:
        scope = {**scopes[-1], **pending}
        pending.clear()
        scopes.append(scope)
        uri, _, rest = name.partition("\x01")
        local = rest.partition("\x01")[0] if rest else uri
        uri = uri if rest else ""
        begin = first + parser.CurrentByteIndex
        tag_end = _tag_end(data, begin)
        empty = data[tag_end - 2 : tag_end - 1] == b"/"
        parent = stack[-1] if stack else None
        desc: _Desc | None = None
        child: _Child | None = None
        if (uri, local) == (RDF_NS, "RDF") and layout.rdf_start < 0:
            layout.rdf_start, layout.rdf_tag_end, layout.rdf_empty = begin, tag_end, empty
            layout.rdf_scope = scope
        elif (uri, local) == (RDF_NS, "Description") and parent == (RDF_NS, "RDF"):
            desc = _Desc(begin, tag_end, empty, scope)
            spans = _tag_attrs(data, begin, tag_end)
            for i in range(0, len(attributes), 2):
                a_uri, _, a_rest = attributes[i].partition("\x01")
                if not a_rest:
                    continue
                a_local, _, a_prefix = a_rest.partition("\x01")
                qname = f"{a_prefix}:{a_local}".encode() if a_prefix else a_local.encode()
                if qname in spans:
                    desc.attrs.append((a_uri, a_local, spans[qname]))
            layout.descriptions.append(desc)
        elif open_desc and open_desc[-1] is not None:
            child = _Child(uri, local, begin, tag_end, empty)
            if empty:
                child.end, child.inner_end = tag_end, tag_end
            open_desc[-1].children.append(child)
        if open_child and open_child[-1] is not None:
            open_child[-1].has_children = True
        stack.append((uri, local))
        open_desc.append(desc)
        open_child.append(child)

    def end(_name: str) -> None:
        child = open_child.pop()
        open_desc.pop()
        stack.pop()
        scopes.pop()
        if child is not None and not child.empty:
            child.inner_end = first + parser.CurrentByteIndex
            child.end = _tag_end(data, child.inner_end)

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.StartNamespaceDeclHandler = start_ns
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.Parse(data[first:stop], True)
    return layout


def _insertion(
    data: bytes, tag_start: int, tag_end: int, attrs: Iterable[_Attr]
) -> tuple[int, str, str]:
    """Where new attributes go in a start tag, the separator before each, the quote."""
    attrs = sorted(attrs, key=lambda a: a.value_end)
    close = tag_end - (2 if data[tag_end - 2 : tag_end - 1] == b"/" else 1)
    if not attrs:
        name_end = tag_start + 1
        while data[name_end : name_end + 1] not in b" \t\r\n/>":
            name_end += 1
        return name_end, " ", '"'
    last = attrs[-1]
    position = last.value_end + 1
    head = data[tag_start:close]
    if b"\n" in head:
        line_start = data.rfind(b"\n", tag_start, last.value_start) + 1
        indent = re.match(rb"[ \t]*", data[line_start:close]).group(0)
        separator = "\n" + indent.decode("ascii")
    else:
        separator = " "
    return position, separator, last.quote.decode("ascii")


def merge_crop_into_xmp(
    existing: bytes | None,
    crop: Crop,
    *,
    image_size: tuple[int, int] | None = None,
    orientation: int | None = None,
) -> bytes:
    """Put a crop into an XMP packet, changing nothing else.

    Args:
        existing: the current packet (a sidecar's bytes, UTF-8), or None for a new one.
        crop: the crop in the **stored** frame (crs:Crop* fractions, Lightroom's angle).
        image_size: the photo's stored ``(width, height)`` in pixels; when given,
            tiff:ImageWidth/ImageLength are added where absent (module docstring).
        orientation: the EXIF orientation 1..8 the photo is shown with; when given,
            tiff:Orientation is added where absent.

    Returns:
        The packet with crs:HasCrop True and the five crop values set (see the module
        docstring for what is kept and how values are written).

    Raises:
        TypeError: ``crop`` is not a :class:`Crop`.
        ValueError: ``existing`` is not safe, well-formed UTF-8 XMP, or has no
            ``rdf:RDF`` to put the crop in; a bad ``image_size`` or ``orientation``.
    """
    values = _crop_values(crop)
    _check_frame(image_size, orientation)
    if existing is None:
        return _new_packet(values, _tiff_plan({}, image_size, orientation)[0])
    if not isinstance(existing, (bytes, bytearray)):
        raise TypeError(f"existing XMP must be bytes or None, got {type(existing).__name__}")
    data = bytes(existing)
    if data.startswith(_UNICODE_BOMS):
        raise ValueError("only UTF-8 XMP can be edited; this packet is UTF-16/32")
    try:
        props = read_xmp_properties(data)
    except SkipError as exc:
        raise ValueError(f"existing XMP cannot be edited safely: {exc.detail}") from exc
    first = len(data) - len(data.lstrip(_PADDING))
    if data.startswith(b"\xef\xbb\xbf", first):
        first += 3
    end_pi = _XPACKET_END_RE.search(data)
    stop = end_pi.end() if end_pi is not None else len(data.rstrip(_PADDING))
    try:
        layout = _scan_layout(data, first, stop)
    except (xml.parsers.expat.ExpatError, ValueError) as exc:
        raise ValueError(f"existing XMP cannot be edited safely: {exc}") from exc

    edits: list[tuple[int, int, bytes]] = []
    found: set[str] = set()
    for desc in layout.descriptions:
        for uri, local, attr in desc.attrs:
            if uri == CRS_NS and local in values:
                edits.append((attr.value_start, attr.value_end, values[local].encode()))
                found.add(local)
        for child in desc.children:
            if child.uri != CRS_NS or child.local not in values:
                continue
            value = values[child.local].encode()
            if child.empty or child.has_children:
                qname = data[child.start + 1 : child.start + 1 + _name_length(data, child.start)]
                edits.append((child.start, child.end, b"<%s>%s</%s>" % (qname, value, qname)))
            else:
                edits.append((child.tag_end, child.inner_end, value))
            found.add(child.local)

    additions = [(CRS_NS, "crs", n, values[n]) for n in _WRITE_ORDER if n not in found]
    tiff, _conflicts = _tiff_plan(props, image_size, orientation)
    additions += [(TIFF_NS, "tiff", n, tiff[n]) for n in _TIFF_ORDER if n in tiff]
    if additions:
        edits += _insert_missing(data, layout, additions)
    edits.sort()
    for (_, end_a, _), (start_b, _, _) in zip(edits, edits[1:], strict=False):
        if start_b < end_a:
            raise ValueError("overlapping crop properties in existing XMP; not edited")
    out = bytearray(data)
    for start, end, text in reversed(edits):
        out[start:end] = text
    merged = bytes(out)
    written = read_xmp_properties(merged)
    wrong = [n for n in _WRITE_ORDER if written.get((CRS_NS, n)) != values[n]]
    wrong += [f"tiff:{n}" for n in tiff if written.get((TIFF_NS, n)) != tiff[n]]
    if wrong:  # a layout this editor does not understand; never write a broken file
        raise ValueError(f"could not place {', '.join(wrong)} in the existing XMP; not edited")
    return merged


def _name_length(data: bytes, start: int) -> int:
    i = start + 1
    while data[i : i + 1] not in b" \t\r\n/>":
        i += 1
    return i - start - 1


def _carries(desc: _Desc, uri: str) -> bool:
    return any(u == uri for u, _, _ in desc.attrs) or any(c.uri == uri for c in desc.children)


def _insert_missing(
    data: bytes, layout: _Layout, additions: list[tuple[str, str, str, str]]
) -> list[tuple[int, int, bytes]]:
    """The edits that add missing properties as attributes.

    Args:
        data: the packet.
        layout: its layout.
        additions: ``(namespace URI, preferred prefix, name, value)`` to add, in order.
            Camera Raw properties go to the description that carries crs properties (or
            the first one); others to the one carrying their namespace, else to that one.

    Returns:
        One insertion per description that receives properties.
    """
    if not layout.descriptions:
        return [_new_description(data, layout, additions)]
    crs_target = next((d for d in layout.descriptions if _carries(d, CRS_NS)), None)
    crs_target = crs_target or layout.descriptions[0]
    targets: dict[int, tuple[_Desc, list[tuple[str, str, str, str]]]] = {}
    for addition in additions:
        uri = addition[0]
        desc = crs_target
        if uri != CRS_NS:
            desc = next((d for d in layout.descriptions if _carries(d, uri)), crs_target)
        targets.setdefault(id(desc), (desc, []))[1].append(addition)
    edits = []
    for desc, items in targets.values():
        spans = _tag_attrs(data, desc.start, desc.tag_end).values()
        position, separator, quote = _insertion(data, desc.start, desc.tag_end, spans)
        parts: list[str] = []
        chosen: dict[str, str] = {}
        for uri, preferred, name, value in items:
            if uri not in chosen:
                prefix, declaration = _prefix_for(desc.scope, uri, preferred, chosen.values())
                chosen[uri] = prefix
                if declaration:
                    parts.append(f"xmlns:{prefix}={quote}{uri}{quote}")
            parts.append(f"{chosen[uri]}:{name}={quote}{value}{quote}")
        text = "".join(separator + part for part in parts)
        edits.append((position, position, text.encode("utf-8")))
    return edits


def _prefix_for(
    scope: dict[str, str], uri: str, preferred: str, taken: Iterable[str]
) -> tuple[str, bool]:
    """A prefix bound to ``uri`` in ``scope``, or a fresh one to declare (second item)."""
    prefixes = [p for p, u in scope.items() if u == uri and p]
    if preferred in prefixes:
        return preferred, False
    if prefixes:
        return sorted(prefixes)[0], False
    used = set(scope) | set(taken)
    prefix, n = preferred, 0
    while prefix in used:
        n += 1
        prefix = f"{preferred}{n}"
    return prefix, True


def _new_description(
    data: bytes, layout: _Layout, additions: list[tuple[str, str, str, str]]
) -> tuple[int, int, bytes]:
    """The edit that adds an ``rdf:Description`` with the properties to an empty ``rdf:RDF``."""
    if layout.rdf_start < 0:
        raise ValueError("existing XMP has no rdf:RDF element; not edited")
    rdf_decl = "" if layout.rdf_scope.get("rdf") == RDF_NS else f' xmlns:rdf="{RDF_NS}"'
    declared: list[str] = []
    attrs = ""
    for uri, prefix, name, value in additions:
        if uri not in declared:
            declared.append(uri)
            attrs += f' xmlns:{prefix}="{uri}"'
        attrs += f' {prefix}:{name}="{value}"'
    desc = f'<rdf:Description rdf:about=""{rdf_decl}{attrs}/>'.encode()
    if layout.rdf_empty:
        name_end = layout.rdf_start + 1 + _name_length(data, layout.rdf_start)
        qname = data[layout.rdf_start + 1 : name_end]
        return layout.rdf_tag_end - 2, layout.rdf_tag_end, b">" + desc + b"</" + qname + b">"
    return layout.rdf_tag_end, layout.rdf_tag_end, desc


def _already_applied(packet: bytes) -> bool:
    try:
        return bool(_bool(read_xmp_properties(packet), "AlreadyApplied"))
    except SkipError:
        return False


def write_sidecar_crop(
    path: Path,
    crop: Crop,
    *,
    backup: bool = True,
    image_size: tuple[int, int] | None = None,
    orientation: int | None = None,
) -> Path | None:
    """Write ``crop`` into the XMP sidecar at ``path``, atomically.

    The existing sidecar (if any) is merged with :func:`merge_crop_into_xmp`, so all of
    its other content survives. A sidecar that is a symbolic link to an existing file is
    written through to that file (the link stays); a link to nothing is refused, never
    followed to create a file elsewhere. Deciding which links may be followed at all is
    the caller's (write-back keeps to the photo's folder).

    Args:
        path: the sidecar (``IMG_1.xmp``); created when missing.
        crop: the crop in the **stored** frame.
        backup: copy the current sidecar to a backup first (see the module docstring).
        image_size: the photo's stored ``(width, height)``, for tiff:ImageWidth/Length.
        orientation: the EXIF orientation the photo is shown with, for tiff:Orientation.

    Returns:
        The backup that holds the previous content, or None (no previous file, no
        backup asked for, or nothing to change).

    Raises:
        ValueError: the existing sidecar cannot be edited safely (it stays untouched),
            or ``path`` is a link to nothing.
        OSError: the file cannot be read or written, or is not a regular file.
    """
    path = Path(path)
    if path.is_symlink():
        target = path.resolve()
        if not target.is_file():
            raise ValueError(f"{path.name} is a link to nothing ({target}); not written through")
        path = target
    existing: bytes | None = None
    mode: int | None = None
    if os.path.lexists(path):
        mode = files.check_regular(path).st_mode & 0o7777
        try:
            existing = read_capped(path)
        except SkipError as exc:
            raise ValueError(f"existing sidecar cannot be edited: {exc.detail}") from exc
    # What an earlier, killed write-back of this sidecar left behind.
    files.remove_stale_temporaries(path.parent, {path.name})
    merged = merge_crop_into_xmp(existing, crop, image_size=image_size, orientation=orientation)
    if merged == existing:
        return None
    backup_path: Path | None = None
    if existing is not None:
        if _already_applied(existing):
            logger.warning(
                "%s says crs:AlreadyApplied=True: Camera Raw will not apply the crop written", path
            )
        if backup:
            backup_path = files.write_backup(path, existing, mode)
    files.atomic_write(path, merged, file_mode=mode)
    return backup_path
