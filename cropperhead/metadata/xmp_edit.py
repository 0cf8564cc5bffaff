"""Put a crop into a Camera Raw XMP packet, changing nothing else (bytes in, bytes out).

The reader is :mod:`cropperhead.metadata.xmp_read`; writing the result to a sidecar file
(backups, atomic replace) is :func:`cropperhead.metadata.sidecar.write_sidecar_crop`'s.
The packet is edited as *bytes*, through the spans :mod:`cropperhead.metadata.xml_spans`
finds, so that a photographer's file is never re-serialised.

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
"""

from __future__ import annotations

import math
import xml.parsers.expat
from collections.abc import Iterable

from cropperhead.geometry import Crop
from cropperhead.metadata.types import SkipError
from cropperhead.metadata.xml_spans import (
    Edit,
    apply_edits,
    attribute_insertion,
    start_tag_attrs,
    tag_name_length,
)
from cropperhead.metadata.xmp_layout import Description, Layout, scan_layout
from cropperhead.metadata.xmp_read import (
    CRS_NS,
    RDF_NS,
    TIFF_NS,
    UNICODE_BOMS,
    X_NS,
    Properties,
    read_xmp_properties,
)

__all__ = ["format_xmp_number", "merge_crop_into_xmp", "tiff_conflicts"]

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
    props: Properties, image_size: tuple[int, int] | None, orientation: int | None
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


# --------------------------------------------------------------------------- merging


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
    data, props, layout = _editable(existing)
    edits, found = _value_edits(data, layout, values)
    additions = [(CRS_NS, "crs", n, values[n]) for n in _WRITE_ORDER if n not in found]
    tiff, _conflicts = _tiff_plan(props, image_size, orientation)
    additions += [(TIFF_NS, "tiff", n, tiff[n]) for n in _TIFF_ORDER if n in tiff]
    if additions:
        edits += _insert_missing(data, layout, additions)
    merged = _apply(data, edits)
    _check_merged(merged, values, tiff)
    return merged


def _editable(existing: bytes) -> tuple[bytes, Properties, Layout]:
    """The packet's bytes, properties and layout, or ``ValueError`` when it is not editable."""
    if not isinstance(existing, (bytes, bytearray)):
        raise TypeError(f"existing XMP must be bytes or None, got {type(existing).__name__}")
    data = bytes(existing)
    if data.startswith(UNICODE_BOMS):
        raise ValueError("only UTF-8 XMP can be edited; this packet is UTF-16/32")
    try:
        props = read_xmp_properties(data)
    except SkipError as exc:
        raise ValueError(f"existing XMP cannot be edited safely: {exc.detail}") from exc
    try:
        layout = scan_layout(data)
    except (xml.parsers.expat.ExpatError, ValueError) as exc:
        raise ValueError(f"existing XMP cannot be edited safely: {exc}") from exc
    return data, props, layout


def _value_edits(
    data: bytes, layout: Layout, values: dict[str, str]
) -> tuple[list[Edit], set[str]]:
    """The edits that set crop values already present, and the names they set."""
    edits: list[Edit] = []
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
                qname = data[child.start + 1 : child.start + 1 + tag_name_length(data, child.start)]
                edits.append((child.start, child.end, b"<%s>%s</%s>" % (qname, value, qname)))
            else:
                edits.append((child.tag_end, child.inner_end, value))
            found.add(child.local)
    return edits, found


def _apply(data: bytes, edits: list[Edit]) -> bytes:
    edits = sorted(edits)
    for (_, end_a, _), (start_b, _, _) in zip(edits, edits[1:], strict=False):
        if start_b < end_a:
            raise ValueError("overlapping crop properties in existing XMP; not edited")
    return apply_edits(data, edits)


def _check_merged(merged: bytes, values: dict[str, str], tiff: dict[str, str]) -> None:
    """The merged packet must read back with the values written (never write a broken file)."""
    written = read_xmp_properties(merged)
    wrong = [n for n in _WRITE_ORDER if written.get((CRS_NS, n)) != values[n]]
    wrong += [f"tiff:{n}" for n in tiff if written.get((TIFF_NS, n)) != tiff[n]]
    if wrong:  # a layout this editor does not understand
        raise ValueError(f"could not place {', '.join(wrong)} in the existing XMP; not edited")


def _carries(desc: Description, uri: str) -> bool:
    return any(u == uri for u, _, _ in desc.attrs) or any(c.uri == uri for c in desc.children)


def _insert_missing(
    data: bytes, layout: Layout, additions: list[tuple[str, str, str, str]]
) -> list[Edit]:
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
    targets: dict[int, tuple[Description, list[tuple[str, str, str, str]]]] = {}
    for addition in additions:
        uri = addition[0]
        desc = crs_target
        if uri != CRS_NS:
            desc = next((d for d in layout.descriptions if _carries(d, uri)), crs_target)
        targets.setdefault(id(desc), (desc, []))[1].append(addition)
    edits = []
    for desc, items in targets.values():
        spans = start_tag_attrs(data, desc.start, desc.tag_end).values()
        position, separator, quote = attribute_insertion(data, desc.start, desc.tag_end, spans)
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
    data: bytes, layout: Layout, additions: list[tuple[str, str, str, str]]
) -> Edit:
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
        name_end = layout.rdf_start + 1 + tag_name_length(data, layout.rdf_start)
        qname = data[layout.rdf_start + 1 : name_end]
        return layout.rdf_tag_end - 2, layout.rdf_tag_end, b">" + desc + b"</" + qname + b">"
    return layout.rdf_tag_end, layout.rdf_tag_end, desc
