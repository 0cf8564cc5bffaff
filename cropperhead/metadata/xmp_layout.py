"""Where a Camera Raw packet's top-level properties lie, in bytes, for the editor.

:mod:`cropperhead.metadata.xmp_edit` changes crop values in place and adds missing ones;
to do that without re-serialising the file it needs the byte spans of each top-level
``rdf:Description`` (its start tag, its attributes, its property elements) and of the
``rdf:RDF`` around them. :func:`scan_layout` finds them with one expat walk
(:class:`~cropperhead.metadata.xml_spans.TagScanner`), applying the reader's notion of
*top-level* (:mod:`cropperhead.metadata.xmp_read`): descriptions directly under
``rdf:RDF``, and their attributes and child elements.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cropperhead.metadata.xml_spans import AttrSpan, StartTag, TagScanner, start_tag_end
from cropperhead.metadata.xmp_read import RDF_NS, XML_NS

__all__ = ["Child", "Description", "Layout", "scan_layout"]


@dataclass
class Child:
    """A property element of a top-level description (its spans; -1: not known yet)."""

    uri: str
    local: str
    start: int  # '<' of the start tag
    tag_end: int  # just after the start tag's '>'
    empty: bool
    end: int = -1  # just after the element (end tag's '>')
    inner_end: int = -1  # '<' of the end tag
    has_children: bool = False


@dataclass
class Description:
    """A top-level ``rdf:Description``: its start tag, namespace scope and properties."""

    start: int
    tag_end: int
    empty: bool
    scope: dict[str, str]  # prefix ('' = default) -> URI, everything in scope here
    attrs: list[tuple[str, str, AttrSpan]] = field(default_factory=list)  # (uri, local, attr)
    children: list[Child] = field(default_factory=list)


@dataclass
class Layout:
    """The top-level descriptions of a packet and its first ``rdf:RDF`` (-1: none)."""

    descriptions: list[Description] = field(default_factory=list)
    rdf_start: int = -1
    rdf_tag_end: int = -1
    rdf_empty: bool = False
    rdf_scope: dict[str, str] = field(default_factory=dict)


class _LayoutScanner(TagScanner):
    """Byte positions of the top-level descriptions and their properties."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data, {"xml": XML_NS})
        self.layout = Layout()
        self._stack: list[tuple[str, str]] = []  # (uri, local) of open elements
        self._open_desc: list[Description | None] = []
        self._open_child: list[Child | None] = []

    def on_start(self, tag: StartTag) -> None:
        parent = self._stack[-1] if self._stack else None
        desc: Description | None = None
        child: Child | None = None
        if (tag.uri, tag.local) == (RDF_NS, "RDF") and self.layout.rdf_start < 0:
            self.layout.rdf_start, self.layout.rdf_tag_end = tag.start, tag.end
            self.layout.rdf_empty, self.layout.rdf_scope = tag.empty, tag.scope
        elif (tag.uri, tag.local) == (RDF_NS, "Description") and parent == (RDF_NS, "RDF"):
            desc = self._description(tag)
        elif self._open_desc and self._open_desc[-1] is not None:
            child = Child(tag.uri, tag.local, tag.start, tag.end, tag.empty)
            if tag.empty:
                child.end, child.inner_end = tag.end, tag.end
            self._open_desc[-1].children.append(child)
        if self._open_child and self._open_child[-1] is not None:
            self._open_child[-1].has_children = True
        self._stack.append((tag.uri, tag.local))
        self._open_desc.append(desc)
        self._open_child.append(child)

    def _description(self, tag: StartTag) -> Description:
        desc = Description(tag.start, tag.end, tag.empty, tag.scope)
        spans = self.attribute_spans(tag)
        for uri, local, qname in tag.attributes:
            if uri and qname in spans:  # attributes without a namespace are no properties
                desc.attrs.append((uri, local, spans[qname]))
        self.layout.descriptions.append(desc)
        return desc

    def on_end(self, position: int) -> None:
        child = self._open_child.pop()
        self._open_desc.pop()
        self._stack.pop()
        if child is not None and not child.empty:
            child.inner_end = position
            child.end = start_tag_end(self.data, child.inner_end)


def scan_layout(data: bytes) -> Layout:
    """The layout of a packet (its :func:`~cropperhead.metadata.xml_spans.content_span`)."""
    scanner = _LayoutScanner(data)
    scanner.scan()
    return scanner.layout
