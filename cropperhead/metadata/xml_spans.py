"""Byte positions in XML text, for editors that change a few values and keep every other byte.

The two sidecar editors (:mod:`cropperhead.metadata.xmp_edit` for Camera Raw settings,
:mod:`cropperhead.metadata.darktable.merge` for darktable histories) never re-serialise a
photographer's file: they find where a value, a start tag or an element lies in the
packet's bytes and splice new text in there. This module holds what both need for that:

- :func:`content_span`: the part of a packet the XML parser sees (padding, a byte order
  mark and anything after the closing ``xpacket`` instruction left out);
- :class:`TagScanner`: an expat walk that hands each start tag's byte span, namespace
  scope and attribute names to a subclass; a DTD or an entity declaration stops it
  (``ValueError``), so no entity is ever expanded into an edit;
- :func:`start_tag_end`, :func:`start_tag_attrs`, :func:`tag_name_length`: the spans
  inside one start tag (expat gives only where a tag begins);
- :func:`attribute_insertion`: where a new attribute goes in a start tag, written like the
  tag's last attribute (its line's indentation, its quote);
- :func:`apply_edits`: the splice itself.

Positions are indices into the whole packet, padding included.
"""

from __future__ import annotations

import re
import xml.parsers.expat
from collections.abc import Iterable
from dataclasses import dataclass

#: Bytes that may pad a packet (XMP writers fill the room left for in-place edits).
PADDING = b"\x00 \t\r\n"
#: The ``<?xpacket end=...?>`` instruction; everything after it is padding or garbage.
XPACKET_END_RE = re.compile(rb"<\?xpacket\s+end\s*=[^>]*\?>")
_UTF8_BOM = b"\xef\xbb\xbf"
_NAME_END = b" \t\r\n/>"

#: One splice: replace ``data[start:end]`` with the bytes.
Edit = tuple[int, int, bytes]


@dataclass
class AttrSpan:
    """An attribute in a start tag: its name as written, its value's span, its quote."""

    qname: bytes
    value_start: int
    value_end: int
    quote: bytes


@dataclass(frozen=True)
class StartTag:
    """One start tag as :class:`TagScanner` reports it.

    Attributes:
        uri: the element's namespace URI (``""`` for none).
        local: the element's local name.
        start: index of its ``<``.
        end: index just after its ``>``.
        empty: the tag closes itself (``<a/>``).
        scope: every prefix in scope at the element (``""`` is the default namespace).
        attributes: ``(uri, local, qname)`` of each attribute, in document order;
            ``qname`` is the name as written, the key of :func:`start_tag_attrs`.
    """

    uri: str
    local: str
    start: int
    end: int
    empty: bool
    scope: dict[str, str]
    attributes: tuple[tuple[str, str, bytes], ...]


def content_span(data: bytes) -> tuple[int, int]:
    """``(first, stop)``: the bytes of ``data`` the XML parser is given.

    Leading padding and a UTF-8 byte order mark are skipped; the end is the closing
    ``xpacket`` instruction, or the last byte that is not padding.
    """
    first = len(data) - len(data.lstrip(PADDING))
    if data.startswith(_UTF8_BOM, first):
        first += 3
    end_pi = XPACKET_END_RE.search(data)
    stop = end_pi.end() if end_pi is not None else len(data.rstrip(PADDING))
    return first, stop


def _split_name(name: str) -> tuple[str, str, str]:
    r"""An expat name (``uri\x01local\x01prefix``) as ``(uri, local, prefix)``."""
    parts = name.split("\x01")
    if len(parts) == 1:
        return "", parts[0], ""
    return parts[0], parts[1], parts[2] if len(parts) > 2 else ""


class TagScanner:
    """An expat walk over a packet's :func:`content_span` that reports byte positions.

    Subclasses override :meth:`on_start` and :meth:`on_end`; :meth:`scan` runs the walk.
    A DTD, an entity declaration or an external entity reference raises ``ValueError``;
    malformed XML raises ``xml.parsers.expat.ExpatError``.
    """

    def __init__(self, data: bytes, scope: dict[str, str] | None = None) -> None:
        self.data = data
        self.first, self.stop = content_span(data)
        self._scopes: list[dict[str, str]] = [dict(scope or {})]
        self._pending: dict[str, str] = {}
        parser = xml.parsers.expat.ParserCreate(namespace_separator="\x01")
        parser.namespace_prefixes = True
        parser.ordered_attributes = True
        parser.StartDoctypeDeclHandler = self._refuse
        parser.EntityDeclHandler = self._refuse
        parser.ExternalEntityRefHandler = self._refuse
        parser.StartNamespaceDeclHandler = self._start_namespace
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        self._parser = parser

    def scan(self) -> None:
        """Walk the packet once, calling :meth:`on_start` and :meth:`on_end`."""
        self._parser.Parse(self.data[self.first : self.stop], True)

    def on_start(self, tag: StartTag) -> None:
        """Called for each start tag (an empty element's too), in document order."""

    def on_end(self, position: int) -> None:
        """Called at each element's end with the index of its end tag's ``<``.

        For an empty element the index is just after its tag.
        """

    def attribute_spans(self, tag: StartTag) -> dict[bytes, AttrSpan]:
        """The attributes of ``tag`` with their value spans, by name as written."""
        return start_tag_attrs(self.data, tag.start, tag.end)

    def _position(self) -> int:
        return self.first + self._parser.CurrentByteIndex

    @staticmethod
    def _refuse(*_args: object) -> None:
        raise ValueError("XMP with a DTD or entities is not edited")

    def _start_namespace(self, prefix: str | None, uri: str | None) -> None:
        self._pending[prefix or ""] = uri or ""

    def _start(self, name: str, attributes: list[str]) -> None:
        scope = {**self._scopes[-1], **self._pending}
        self._pending.clear()
        self._scopes.append(scope)
        uri, local, _prefix = _split_name(name)
        begin = self._position()
        end = start_tag_end(self.data, begin)
        names = []
        for i in range(0, len(attributes), 2):
            a_uri, a_local, a_prefix = _split_name(attributes[i])
            qname = f"{a_prefix}:{a_local}".encode() if a_prefix else a_local.encode()
            names.append((a_uri, a_local, qname))
        empty = self.data[end - 2 : end - 1] == b"/"
        self.on_start(StartTag(uri, local, begin, end, empty, scope, tuple(names)))

    def _end(self, _name: str) -> None:
        self._scopes.pop()
        self.on_end(self._position())


def start_tag_end(data: bytes, start: int) -> int:
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


def tag_name_length(data: bytes, start: int) -> int:
    """Length of the element name of the tag opening at ``data[start] == '<'``."""
    i = start + 1
    while data[i : i + 1] not in _NAME_END:
        i += 1
    return i - start - 1


def start_tag_attrs(data: bytes, start: int, end: int) -> dict[bytes, AttrSpan]:
    """The attributes of the start tag ``data[start:end]`` with their value spans."""
    attrs: dict[bytes, AttrSpan] = {}
    i = start + 1
    while i < end and data[i : i + 1] not in _NAME_END:
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
        attrs[qname] = AttrSpan(qname, i + 1, close, quote)
        i = close + 1
    return attrs


def attribute_insertion(
    data: bytes, tag_start: int, tag_end: int, attrs: Iterable[AttrSpan]
) -> tuple[int, str, str]:
    """Where new attributes go in a start tag, the separator before each, the quote."""
    attrs = sorted(attrs, key=lambda a: a.value_end)
    close = tag_end - (2 if data[tag_end - 2 : tag_end - 1] == b"/" else 1)
    if not attrs:
        return tag_start + 1 + tag_name_length(data, tag_start), " ", '"'
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


def apply_edits(data: bytes, edits: Iterable[Edit]) -> bytes:
    """``data`` with each ``(start, end, text)`` splice made (spans of the original)."""
    out = bytearray(data)
    for start, end, text in sorted(edits, reverse=True):
        out[start:end] = text
    return bytes(out)
