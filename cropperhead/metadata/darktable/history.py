"""darktable's history stack: the entries of a sidecar and the ones darktable applies.

A darktable sidecar (``NAME.EXT.xmp``) records the photo's edit as a history of module
steps. This module parses that history (:func:`read_darktable_history`) and answers the
questions about it that do not need geometry: which steps darktable replays
(:meth:`DarktableHistory.applied`), which module instances end up on
(:meth:`DarktableHistory.active`), in what pipe order (:meth:`DarktableHistory.pipe_order`),
and whether darktable develops the photo from this file at all (:func:`is_developed`).
The crop the history makes is :mod:`~cropperhead.metadata.darktable.geometry`'s; editing
the history is :mod:`~cropperhead.metadata.darktable.merge`'s.

The active history (checked against darktable's ``src/common/exif.cc``)
-----------------------------------------------------------------------
``darktable:history`` is an ``rdf:Seq`` of ``rdf:li`` entries, written as attributes
(``<rdf:li darktable:num="0" darktable:operation="flip" .../>``) or as child elements
(``<rdf:li rdf:parseType="Resource"><darktable:num>0</darktable:num>...``, or an
``rdf:Description`` inside the ``rdf:li``); both forms are read, in xmp_version 4 and 5
(and any later version that keeps the layout). ``read_history_v2`` in exif.cc collects
``num``, ``operation``, ``enabled`` (``== 1``), ``modversion``, ``params`` and
``multi_priority`` per entry and rejects the whole history when operation, params or
modversion is missing; darktable then replays the entries with ``num < history_end``
(``history_end`` absent: all) in ``num`` order onto the module instance named by
``(operation, multi_priority)``. So the **last** such entry of an instance wins, its
``enabled`` flag included: an instance whose last entry is disabled is off even if an
earlier entry enabled it. The xmp_version 1 layout (parallel ``history_operation`` /
``history_params`` sequences) is refused as UNSUPPORTED.

Who reads which file (darktable 4.2, checked with darktable-cli)
----------------------------------------------------------------
darktable imports a Lightroom sidecar (``IMG_1.xmp``) only while the photo is not
developed yet. ``exif.cc`` sets the image's "auto presets applied" flag only when its own
sidecar says ``darktable:auto_presets_applied="1"`` **and** has a history with
``history_end`` >= 1; the Lightroom import runs only while that flag is clear. Seen with
darktable-cli: a sidecar with both ignores ``IMG_1.xmp``; with ``auto_presets_applied="0"``,
``history_end="0"`` or an empty history the Lightroom crop is imported (on top of the
history). :func:`is_developed` is that rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element

from cropperhead.metadata.darktable.params import ModuleParams, decode_module_params, decode_params
from cropperhead.metadata.types import BAD_METADATA, UNSUPPORTED, SkipError
from cropperhead.metadata.xmp_read import RDF_NS, parse_packet

__all__ = [
    "DT_NS",
    "DarktableHistory",
    "HistoryEntry",
    "is_darktable_xmp",
    "is_developed",
    "parse_sidecar",
    "read_darktable_history",
]

#: darktable's XMP namespace.
DT_NS = "http://darktable.sf.net/"
_DT = "{" + DT_NS + "}"
_RDF = "{" + RDF_NS + "}"

#: Relative pipe order of the modules that matter here (iop_order.c).
_LEGACY_ORDER = (
    "ashift", "rotatepixels", "scalepixels", "flip", "enlargecanvas", "clipping", "crop",
)  # fmt: skip
_V30_ORDER = ("rotatepixels", "scalepixels", "ashift", "flip", "enlargecanvas", "clipping", "crop")
_RELEVANT = frozenset(_V30_ORDER)

_NS_DECL_RE = re.compile(rb"xmlns:([A-Za-z_][\w.\-]*)\s*=\s*[\"']http://darktable\.sf\.net/[\"']")


@dataclass(frozen=True)
class HistoryEntry:
    """One ``rdf:li`` of ``darktable:history``.

    Attributes:
        index: position in the sequence (0-based).
        num: ``darktable:num`` (the position when absent).
        operation: the module, e.g. ``"clipping"``.
        enabled: ``darktable:enabled == 1``.
        modversion: the params struct version.
        params_text: ``darktable:params`` as written.
        multi_priority: the module instance (0 for the first).
        multi_name: the instance's name.
    """

    index: int
    num: int
    operation: str
    enabled: bool
    modversion: int
    params_text: str
    multi_priority: int = 0
    multi_name: str = ""

    @property
    def instance(self) -> tuple[str, int]:
        """``(operation, multi_priority)``: the module instance this entry sets."""
        return (self.operation, self.multi_priority)

    def params(self) -> bytes:
        """The decoded params blob (see :func:`decode_params`)."""
        return decode_params(self.params_text)

    def decode(self) -> ModuleParams | None:
        """This entry's params for crop/clipping/ashift/flip, None for an unknown version."""
        return decode_module_params(self.operation, self.modversion, self.params())


@dataclass(frozen=True)
class DarktableHistory:
    """A darktable sidecar's history and top-level ``darktable:*`` values.

    Attributes:
        entries: all entries, in document order.
        history_end: ``darktable:history_end``, or None (all entries apply).
        xmp_version: ``darktable:xmp_version``, or None.
        iop_order_version: ``darktable:iop_order_version``, or None.
        iop_order_list: ``(operation, instance)`` pairs of a custom pipe order, or ().
        attributes: every top-level ``darktable:NAME`` value by ``NAME``.
    """

    entries: tuple[HistoryEntry, ...]
    history_end: int | None = None
    xmp_version: int | None = None
    iop_order_version: int | None = None
    iop_order_list: tuple[tuple[str, int], ...] = ()
    attributes: dict[str, str] = field(default_factory=dict)

    def applied(self) -> list[HistoryEntry]:
        """The entries darktable replays: ``num < history_end``, in ``num`` order."""
        end = self.history_end
        kept = [e for e in self.entries if end is None or e.num < end]
        return sorted(kept, key=lambda e: e.num)

    def instances(self) -> dict[tuple[str, int], HistoryEntry]:
        """The last applied entry of each module instance (enabled or not)."""
        last: dict[tuple[str, int], HistoryEntry] = {}
        for entry in self.applied():
            last[entry.instance] = entry
        return last

    def active(self) -> dict[tuple[str, int], HistoryEntry]:
        """The module instances that end up switched on, with the entry that set them."""
        return {key: e for key, e in self.instances().items() if e.enabled}

    def pipe_order(self) -> list[str]:
        """Relative pipe order of ashift, flip, clipping, crop and the frame changers."""
        default = list(_LEGACY_ORDER if self.iop_order_version == 1 else _V30_ORDER)
        if not self.iop_order_list:
            return default
        listed: list[str] = []
        for op, _instance in self.iop_order_list:
            if op in _RELEVANT and op not in listed:
                listed.append(op)
        # A module the custom list leaves out goes right after its default predecessor.
        for position, op in enumerate(default):
            if op in listed:
                continue
            before = [p for p in default[:position] if p in listed]
            listed.insert(listed.index(before[-1]) + 1 if before else 0, op)
        return listed


def is_darktable_xmp(packet: bytes) -> bool:
    """True when ``packet`` looks like a darktable sidecar (namespace and a history).

    A byte search, no parsing: some prefix is bound to ``http://darktable.sf.net/`` and
    a ``PREFIX:history`` element appears.
    """
    if isinstance(packet, (bytearray, memoryview)):
        packet = bytes(packet)
    if not isinstance(packet, bytes):
        raise TypeError(f"an XMP packet must be bytes, got {type(packet).__name__}")
    for prefix in set(_NS_DECL_RE.findall(packet)):
        if re.search(rb"<" + re.escape(prefix) + rb":history[\s>/]", packet):
            return True
    return False


def _simple_values(elem: Element) -> dict[str, str]:
    """``darktable:*`` attributes and simple child elements of ``elem``, by local name.

    Also looks into ``rdf:Description`` children (the nested element form of an rdf:li).
    """
    values: dict[str, str] = {}
    for name, value in elem.attrib.items():
        if name.startswith(_DT):
            values.setdefault(name[len(_DT) :], value)
    for child in elem:
        tag = child.tag if isinstance(child.tag, str) else ""
        if tag.startswith(_DT) and len(child) == 0:
            values.setdefault(tag[len(_DT) :], (child.text or "").strip())
        elif tag == _RDF + "Description":
            for key, value in _simple_values(child).items():
                values.setdefault(key, value)
    return values


def _int(value: str | None, what: str) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError as exc:
        raise SkipError(BAD_METADATA, f"{what} is {value!r}, not an integer") from exc


def _order_list(text: str | None) -> tuple[tuple[str, int], ...]:
    if not text:
        return ()
    parts = [p.strip() for p in text.split(",")]
    if len(parts) % 2:
        raise SkipError(BAD_METADATA, f"darktable:iop_order_list has an odd length: {text[:40]!r}")
    pairs = []
    for op, instance in zip(parts[0::2], parts[1::2], strict=True):
        pairs.append((op, _int(instance, "darktable:iop_order_list instance") or 0))
    return tuple(pairs)


def _history_entries(history: Element) -> list[HistoryEntry]:
    items = [li for container in history for li in container if li.tag == _RDF + "li"]
    entries = []
    for index, li in enumerate(items):
        values = _simple_values(li)
        missing = [k for k in ("operation", "params", "modversion") if k not in values]
        if missing:
            raise SkipError(
                BAD_METADATA,
                f"history entry {index} lacks darktable:{', darktable:'.join(missing)}",
            )
        num = _int(values.get("num"), f"history entry {index} darktable:num")
        modversion = _int(values["modversion"], f"history entry {index} darktable:modversion")
        priority = _int(values.get("multi_priority"), f"history entry {index} multi_priority")
        enabled = _int(values.get("enabled", "0"), f"history entry {index} darktable:enabled")
        entries.append(
            HistoryEntry(
                index=index,
                num=index if num is None else num,
                operation=values["operation"],
                enabled=enabled == 1,
                modversion=modversion or 0,
                params_text=values["params"],
                multi_priority=priority or 0,
                multi_name=values.get("multi_name", ""),
            )
        )
    return entries


def parse_sidecar(packet: bytes) -> tuple[DarktableHistory | None, dict[str, str]]:
    """The sidecar's history (None without ``darktable:history``) and its ``darktable:*`` values.

    Raises:
        SkipError: BAD_METADATA for unsafe or malformed XML or a broken entry,
            UNSUPPORTED for the xmp_version 1 layout.
    """
    root = parse_packet(packet)
    # Top-level descriptions only: an rdf:li may nest one for its own entry.
    rdfs = [root] if root.tag == _RDF + "RDF" else list(root.iter(_RDF + "RDF"))
    descriptions = [d for rdf in rdfs for d in rdf if d.tag == _RDF + "Description"]
    if root.tag == _RDF + "Description":
        descriptions.append(root)
    attributes: dict[str, str] = {}
    history_elem: Element | None = None
    legacy = False
    for desc in descriptions:
        for key, value in _simple_values(desc).items():
            attributes.setdefault(key, value)
        for child in desc:
            if child.tag == _DT + "history" and history_elem is None:
                history_elem = child
            elif child.tag == _DT + "history_operation":
                legacy = True
    if history_elem is None:
        if legacy:
            raise SkipError(UNSUPPORTED, "darktable xmp_version 1 history (parallel sequences)")
        return None, attributes
    history = DarktableHistory(
        entries=tuple(_history_entries(history_elem)),
        history_end=_int(attributes.get("history_end"), "darktable:history_end"),
        xmp_version=_int(attributes.get("xmp_version"), "darktable:xmp_version"),
        iop_order_version=_int(attributes.get("iop_order_version"), "darktable:iop_order_version"),
        iop_order_list=_order_list(attributes.get("iop_order_list")),
        attributes=attributes,
    )
    return history, attributes


def read_darktable_history(packet: bytes) -> DarktableHistory:
    """Parse a darktable sidecar's history (see the module docstring).

    Returns:
        The history; a packet without ``darktable:history`` gives one without entries.

    Raises:
        SkipError: BAD_METADATA for unsafe or malformed XML or a broken entry,
            UNSUPPORTED for the xmp_version 1 layout.
    """
    history, attributes = parse_sidecar(packet)
    if history is None:
        return DarktableHistory(entries=(), attributes=attributes)
    return history


def is_developed(packet: bytes) -> bool:
    """Whether darktable develops the photo from this sidecar's history (module docstring).

    True for a darktable sidecar with ``auto_presets_applied`` 1 and at least one applied
    history entry: darktable then ignores a Lightroom sidecar. False for anything else,
    a packet that cannot be parsed included.
    """
    try:
        history, attributes = parse_sidecar(packet)
    except SkipError:
        return False
    if history is None or not history.entries or history.history_end is None:
        return False
    applied = (attributes.get("auto_presets_applied") or "").strip() == "1"
    return applied and min(history.history_end, len(history.entries)) >= 1
