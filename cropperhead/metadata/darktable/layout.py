"""Where a darktable sidecar's history lies, in bytes, for the writer.

:mod:`~cropperhead.metadata.darktable.merge` appends steps after the last ``rdf:li`` of the
history, moves ``history_end`` and sets its marker without re-serialising the file; for
that it needs the byte spans :func:`scan_history_layout` finds with one expat walk
(:class:`~cropperhead.metadata.xml_spans.TagScanner`): each entry with its darktable
attributes' value spans, the ``rdf:Seq``, the ``rdf:Description`` that holds the history,
``history_end`` (attribute or element) and whether the marker is there. Entries in element
form, or with attributes of other namespaces, are marked ``foreign``: the writer does not
edit them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cropperhead.metadata.darktable.history import DT_NS
from cropperhead.metadata.xml_spans import StartTag, TagScanner, start_tag_end
from cropperhead.metadata.xmp_read import RDF_NS

__all__ = ["CROPPERHEAD_NS", "MARK_NAME", "HistoryLayout", "Item", "scan_history_layout"]

#: Namespace of the marker CropperHead leaves in a darktable sidecar it wrote.
CROPPERHEAD_NS = "http://cropperhead.invalid/ns/1.0/"
#: The marker attribute's name in that namespace (the merge module says what it holds).
MARK_NAME = "SidecarDigest"


@dataclass
class Item:
    """One ``rdf:li`` of the history: its span and its darktable attributes' value spans."""

    start: int
    end: int
    empty: bool
    attrs: dict[str, tuple[int, int]] = field(default_factory=dict)
    foreign: bool = False  # attributes of other namespaces, or child elements


@dataclass
class HistoryLayout:
    """The spans the writer edits (-1 or None: not found)."""

    items: list[Item] = field(default_factory=list)
    seq_tag_end: int = -1
    desc: tuple[int, int] | None = None  # the description holding the history
    desc_scope: dict[str, str] = field(default_factory=dict)
    desc_has_mark: bool = False
    history_end: tuple[int, int] | None = None  # value span (attribute or element text)


class _HistoryScanner(TagScanner):
    """Byte positions of the history entries and of ``history_end``."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.layout = HistoryLayout()
        self._stack: list[tuple[str, str]] = []
        self._roles: list[str] = []  # "desc", "history", "seq", "li", "end", "" per open element
        self._items: list[Item | None] = []
        self._descriptions: list[tuple[int, int, dict[str, str]]] = []  # start, tag end, scope
        self._end_text: list[int] = []

    def _role(self, tag: StartTag) -> str:
        """What the element is to the writer, from its name and its parent's role."""
        parent = self._stack[-1] if self._stack else None
        parent_role = self._roles[-1] if self._roles else ""
        name = (tag.uri, tag.local)
        if name == (RDF_NS, "Description") and parent == (RDF_NS, "RDF"):
            return "desc"
        if parent_role == "desc" and name == (DT_NS, "history"):
            return "history"
        if parent_role == "desc" and name == (DT_NS, "history_end") and not tag.empty:
            return "end"
        if parent_role == "history" and tag.uri == RDF_NS and tag.local in ("Seq", "Bag", "Alt"):
            return "seq"
        if parent_role == "seq" and name == (RDF_NS, "li"):
            return "li"
        return ""

    def on_start(self, tag: StartTag) -> None:
        role = self._role(tag)
        item: Item | None = None
        if role == "desc":
            self._description(tag)
        elif role == "history" and self.layout.desc is None:
            start, tag_end, scope = self._descriptions[-1]
            self.layout.desc, self.layout.desc_scope = (start, tag_end), scope
        elif role == "end":
            self._end_text.append(tag.end)
        elif role == "seq":
            self.layout.seq_tag_end = tag.end
        elif role == "li":
            item = self._entry(tag)
        self._items.append(item)
        self._stack.append((tag.uri, tag.local))
        self._roles.append(role)

    def _description(self, tag: StartTag) -> None:
        spans = self.attribute_spans(tag)
        for uri, local, qname in tag.attributes:
            if (uri, local) == (DT_NS, "history_end") and qname in spans:
                span = spans[qname]
                self.layout.history_end = (span.value_start, span.value_end)
            if (uri, local) == (CROPPERHEAD_NS, MARK_NAME):
                self.layout.desc_has_mark = True
        self._descriptions.append((tag.start, tag.end, tag.scope))

    def _entry(self, tag: StartTag) -> Item:
        item = Item(tag.start, tag.end if tag.empty else -1, tag.empty)
        spans = self.attribute_spans(tag)
        for uri, local, qname in tag.attributes:
            if uri != DT_NS or qname not in spans:
                item.foreign = True
                continue
            span = spans[qname]
            item.attrs[local] = (span.value_start, span.value_end)
        if not tag.empty:
            item.foreign = True  # element-form entries are not edited
        self.layout.items.append(item)
        return item

    def on_end(self, position: int) -> None:
        role = self._roles.pop()
        self._stack.pop()
        item = self._items.pop()
        if role == "li" and item is not None and not item.empty:
            item.end = start_tag_end(self.data, position)
        if role == "end" and self._end_text:
            self.layout.history_end = (self._end_text.pop(), position)


def scan_history_layout(data: bytes) -> HistoryLayout:
    """The history layout of a packet (its :func:`~cropperhead.metadata.xml_spans.content_span`).

    Raises:
        ValueError: a DTD or entity declaration.
        xml.parsers.expat.ExpatError: malformed XML.
    """
    scanner = _HistoryScanner(data)
    scanner.scan()
    return scanner.layout
