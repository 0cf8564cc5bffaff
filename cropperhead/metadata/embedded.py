r"""XMP packets embedded in image files, found by walking each format's structure.

Supported containers (recognised by their leading bytes, never by the file name):

- JPEG: the APP1 segment ``http://ns.adobe.com/xap/1.0/\0`` (main packet) plus Extended
  XMP APP1 segments ``http://ns.adobe.com/xmp/extension/\0`` + 32-character GUID +
  4-byte full length + 4-byte offset + chunk. Chunks are reassembled by offset, and only
  those of the GUID that the main packet names in ``xmpNote:HasExtendedXMP`` are used
  (other GUIDs are stale leftovers). The scan stops at the first SOS marker.
- TIFF and TIFF-based raws (DNG, CR2, NEF, ARW, ORF, RW2; both byte orders, BigTIFF):
  IFD0 tag 700 (XMLPacket).
- PNG: the ``iTXt`` chunk with keyword ``XML:com.adobe.xmp`` (compressed or not).
- WebP: the RIFF ``XMP `` chunk.
- JPEG 2000 (JP2): the top-level ``uuid`` box BE7ACFCB-97A9-42E8-9C71-999491E3AFAC.

Everything else (CR3, HEIF, ...) yields no packets; the scan decides what to do.

Files are read with bounded seeks and reads: no format step reads more than
:data:`~cropperhead.metadata.xmp_read.MAX_PACKET_BYTES` at once, loops are capped, and a
structure that points past the end of the file or lies about its lengths raises
``SkipError(BAD_METADATA)``. A JPEG that simply ends before its image data keeps the
packets already found.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from cropperhead import files
from cropperhead.metadata.types import (
    BAD_METADATA,
    ORIGIN_EMBEDDED,
    UNREADABLE,
    DevelopSettings,
    SkipError,
)
from cropperhead.metadata.xmp_read import (
    MAX_PACKET_BYTES,
    check_field_names,
    extended_xmp_guid,
    read_xmp_packets,
)

logger = logging.getLogger(__name__)

__all__ = ["extract_xmp_packets", "read_embedded_settings"]

XMP_APP1_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
EXTENDED_XMP_HEADER = b"http://ns.adobe.com/xmp/extension/\x00"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_XMP_KEYWORD = b"XML:com.adobe.xmp"
JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
JP2_XMP_UUID = bytes.fromhex("BE7ACFCB97A942E89C71999491E3AFAC")
XMP_TIFF_TAG = 700

#: Caps that keep a hostile file from making the reader spin.
MAX_SEGMENTS = 65_536
MAX_IFD_ENTRIES = 4_096

_TIFF_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8,
                    13: 4, 16: 8, 17: 8, 18: 8}  # fmt: skip


def _bad(path: Path, detail: str) -> SkipError:
    return SkipError(BAD_METADATA, f"{path.name}: {detail}")


def _read_exact(handle: BinaryIO, size: int, path: Path, what: str) -> bytes:
    data = handle.read(size)
    if len(data) != size:
        raise _bad(path, f"file ends inside {what} ({len(data)} of {size} bytes)")
    return data


# --------------------------------------------------------------------------- JPEG


def _jpeg_packets(handle: BinaryIO, size: int, path: Path) -> list[bytes]:
    found = _JpegXmp(path)
    position = 2
    for _ in range(MAX_SEGMENTS):
        code = _next_marker(handle, position, path)
        if code is None:
            break  # the file ends between segments: keep what was found
        position = handle.tell()
        if code in (0x01, 0xD8) or 0xD0 <= code <= 0xD7:
            continue  # markers without a length
        if code in (0xD9, 0xDA):
            break  # end of image, start of scan: metadata comes before both
        body_size = _segment_body_size(handle, code, position, size, path)
        if body_size is None:
            break
        if code == 0xE1:
            found.add_app1(handle.read(body_size))
        position += 2 + body_size
    else:
        raise _bad(path, f"more than {MAX_SEGMENTS} JPEG segments before the image data")
    return found.packets()


def _next_marker(handle: BinaryIO, position: int, path: Path) -> int | None:
    """The code of the marker at ``position``, past stray and fill bytes; None at the end."""
    handle.seek(position)
    byte = handle.read(1)
    if not byte:
        return None
    if byte != b"\xff":
        # libjpeg skips stray bytes before a marker; do the same, boundedly.
        skipped = 0
        while byte and byte != b"\xff" and skipped < 65_536:
            byte = handle.read(1)
            skipped += 1
        if byte != b"\xff":
            raise _bad(path, f"no JPEG marker near byte {position}")
        logger.debug("%s: %d stray bytes before a JPEG marker", path, skipped)
    marker = handle.read(1)
    while marker == b"\xff":  # fill bytes
        marker = handle.read(1)
    return marker[0] if marker else None


def _segment_body_size(
    handle: BinaryIO, code: int, position: int, size: int, path: Path
) -> int | None:
    """The length of the segment body after the marker ending at ``position``.

    None when the file ends inside the length field; ``SkipError`` for a length that
    lies.
    """
    length_bytes = handle.read(2)
    if len(length_bytes) < 2:
        return None
    length = struct.unpack(">H", length_bytes)[0]
    if length < 2:
        raise _bad(path, f"JPEG segment 0x{code:02X} at byte {position - 2} has length {length}")
    body_size = length - 2
    if position + 2 + body_size > size:
        raise _bad(
            path,
            f"JPEG segment 0x{code:02X} at byte {position - 2} claims {length} bytes; "
            f"only {size - position} remain",
        )
    return body_size


class _JpegXmp:
    """The XMP of one JPEG as its APP1 segments are met: the main packet, Extended chunks."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.main: bytes | None = None
        # guid -> (full length, {offset: chunk})
        self.extended: dict[bytes, tuple[int, dict[int, bytes]]] = {}
        self.extended_bytes = 0

    def add_app1(self, body: bytes) -> None:
        """Keep an APP1 segment's body if it is XMP (the first main packet wins)."""
        if body.startswith(XMP_APP1_HEADER):
            if self.main is None:
                self.main = body[len(XMP_APP1_HEADER) :]
            else:
                logger.debug("%s: ignoring a second main XMP segment", self.path)
        elif body.startswith(EXTENDED_XMP_HEADER):
            self.extended_bytes += len(body)
            if self.extended_bytes > MAX_PACKET_BYTES:
                raise _bad(self.path, f"Extended XMP exceeds {MAX_PACKET_BYTES} bytes")
            _add_extended_chunk(body, self.extended, self.path)

    def packets(self) -> list[bytes]:
        """``[main]``, ``[main, extended]`` when the main packet names one, or ``[]``."""
        if self.main is None:
            return []
        packets = [self.main]
        try:
            guid = extended_xmp_guid(self.main)
        except SkipError:
            return packets  # the reader reports the broken main packet
        if guid is not None:
            chunks = self.extended.get(guid.encode("ascii", "replace"))
            if chunks is None:
                raise _bad(
                    self.path, f"the Extended XMP {guid!r} named by the main packet is missing"
                )
            packets.append(_assemble_extended(guid, *chunks, self.path))
        return packets


def _add_extended_chunk(
    body: bytes, extended: dict[bytes, tuple[int, dict[int, bytes]]], path: Path
) -> None:
    head = len(EXTENDED_XMP_HEADER)
    if len(body) < head + 40:
        raise _bad(path, "Extended XMP segment too short for its header")
    guid = body[head : head + 32]
    full_length, offset = struct.unpack(">II", body[head + 32 : head + 40])
    chunk = body[head + 40 :]
    if full_length > MAX_PACKET_BYTES:
        raise _bad(path, f"Extended XMP claims {full_length} bytes")
    known_length, chunks = extended.setdefault(guid, (full_length, {}))
    if known_length != full_length:
        raise _bad(
            path, f"Extended XMP chunks disagree on the length ({known_length}, {full_length})"
        )
    if offset + len(chunk) > full_length:
        raise _bad(path, f"Extended XMP chunk at offset {offset} runs past {full_length} bytes")
    chunks[offset] = chunk


def _assemble_extended(guid: str, full_length: int, chunks: dict[int, bytes], path: Path) -> bytes:
    out = bytearray(full_length)
    covered = 0
    for offset in sorted(chunks):
        chunk = chunks[offset]
        if offset > covered:
            break
        out[offset : offset + len(chunk)] = chunk
        covered = max(covered, offset + len(chunk))
    if covered != full_length:
        raise _bad(path, f"Extended XMP {guid!r} is incomplete ({covered} of {full_length} bytes)")
    return bytes(out)


# --------------------------------------------------------------------------- TIFF


def _tiff_packets(handle: BinaryIO, size: int, path: Path) -> list[bytes]:
    header = _read_exact(handle, 8, path, "the TIFF header")
    order = "<" if header[:2] == b"II" else ">"
    magic = struct.unpack(order + "H", header[2:4])[0]
    if magic == 43:  # BigTIFF
        rest = _read_exact(handle, 8, path, "the BigTIFF header")
        if struct.unpack(order + "HH", header[4:8]) != (8, 0):
            raise _bad(path, "unsupported BigTIFF offset size")
        ifd = struct.unpack(order + "Q", rest)[0]
        count_fmt, entry_size, inline = "Q", 20, 8
    else:
        ifd = struct.unpack(order + "I", header[4:8])[0]
        count_fmt, entry_size, inline = "H", 12, 4
    count_size = struct.calcsize(count_fmt)
    if ifd < 8 or ifd + count_size > size:
        raise _bad(path, f"IFD0 offset {ifd} lies outside the file ({size} bytes)")
    handle.seek(ifd)
    count = struct.unpack(order + count_fmt, _read_exact(handle, count_size, path, "IFD0"))[0]
    if count > MAX_IFD_ENTRIES:
        raise _bad(path, f"IFD0 claims {count} entries")
    entries = _read_exact(handle, count * entry_size, path, "IFD0")
    for i in range(count):
        entry = entries[i * entry_size : (i + 1) * entry_size]
        tag, kind = struct.unpack(order + "HH", entry[:4])
        if tag != XMP_TIFF_TAG:
            continue
        if entry_size == 12:
            n, value = struct.unpack(order + "I", entry[4:8])[0], entry[8:12]
        else:
            n, value = struct.unpack(order + "Q", entry[4:12])[0], entry[12:20]
        length = n * _TIFF_TYPE_SIZES.get(kind, 1)
        if length > MAX_PACKET_BYTES:
            raise _bad(path, f"XMLPacket claims {length} bytes")
        if length <= inline:
            return [value[:length]] if length else []
        offset = struct.unpack(order + ("I" if inline == 4 else "Q"), value)[0]
        if offset + length > size:
            raise _bad(path, f"XMLPacket at {offset} ({length} bytes) runs past the end ({size})")
        handle.seek(offset)
        return [_read_exact(handle, length, path, "the XMLPacket")]
    return []


# --------------------------------------------------------------------------- PNG


def _png_packets(handle: BinaryIO, size: int, path: Path) -> list[bytes]:
    position = len(PNG_SIGNATURE)
    for _ in range(MAX_SEGMENTS):
        handle.seek(position)
        head = handle.read(8)
        if len(head) < 8:
            return []
        length, kind = struct.unpack(">I4s", head)
        if position + 12 + length > size:
            raise _bad(path, f"PNG chunk {kind!r} at byte {position} runs past the end")
        if kind == b"IEND":
            return []
        if kind == b"iTXt" and length > len(PNG_XMP_KEYWORD):
            start = handle.read(len(PNG_XMP_KEYWORD) + 1)
            if start == PNG_XMP_KEYWORD + b"\x00":
                if length > MAX_PACKET_BYTES:
                    raise _bad(path, f"PNG XMP chunk of {length} bytes")
                rest = _read_exact(handle, length - len(start), path, "the PNG XMP chunk")
                return [_itxt_text(rest, path)]
        position += 12 + length
    raise _bad(path, f"more than {MAX_SEGMENTS} PNG chunks")


def _itxt_text(rest: bytes, path: Path) -> bytes:
    """The text of an iTXt chunk whose keyword and NUL have been consumed."""
    if len(rest) < 2:
        raise _bad(path, "truncated PNG iTXt chunk")
    compressed, method = rest[0], rest[1]
    language_end = rest.find(b"\x00", 2)
    translated_end = rest.find(b"\x00", language_end + 1) if language_end >= 0 else -1
    if translated_end < 0:
        raise _bad(path, "malformed PNG iTXt chunk")
    text = rest[translated_end + 1 :]
    if not compressed:
        return text
    if method != 0:
        raise _bad(path, f"unknown PNG iTXt compression method {method}")
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(text, MAX_PACKET_BYTES)
    except zlib.error as exc:
        raise _bad(path, f"corrupt compressed PNG XMP: {exc}") from exc
    if inflater.unconsumed_tail:
        raise _bad(path, f"compressed PNG XMP inflates past {MAX_PACKET_BYTES} bytes")
    return out


# --------------------------------------------------------------------------- WebP


def _webp_packets(handle: BinaryIO, size: int, path: Path) -> list[bytes]:
    handle.seek(4)
    riff_size = struct.unpack("<I", _read_exact(handle, 4, path, "the RIFF header"))[0]
    end = min(size, 8 + riff_size)
    position = 12
    for _ in range(MAX_SEGMENTS):
        if position + 8 > end:
            return []
        handle.seek(position)
        kind, length = struct.unpack("<4sI", _read_exact(handle, 8, path, "a WebP chunk"))
        if position + 8 + length > size:
            raise _bad(path, f"WebP chunk {kind!r} at byte {position} runs past the end")
        if kind == b"XMP ":
            if length > MAX_PACKET_BYTES:
                raise _bad(path, f"WebP XMP chunk of {length} bytes")
            return [_read_exact(handle, length, path, "the WebP XMP chunk")]
        position += 8 + length + (length & 1)
    raise _bad(path, f"more than {MAX_SEGMENTS} WebP chunks")


# --------------------------------------------------------------------------- JPEG 2000


def _jp2_packets(handle: BinaryIO, size: int, path: Path) -> list[bytes]:
    position = 0
    for _ in range(MAX_SEGMENTS):
        if position + 8 > size:
            return []
        handle.seek(position)
        length, kind = struct.unpack(">I4s", _read_exact(handle, 8, path, "a JP2 box"))
        header = 8
        if length == 1:
            length = struct.unpack(">Q", _read_exact(handle, 8, path, "a JP2 box"))[0]
            header = 16
        elif length == 0:
            length = size - position
        if length < header or position + length > size:
            raise _bad(path, f"JP2 box {kind!r} at byte {position} has length {length}")
        if kind == b"uuid" and length >= header + 16:
            if _read_exact(handle, 16, path, "a JP2 uuid box") == JP2_XMP_UUID:
                body = length - header - 16
                if body > MAX_PACKET_BYTES:
                    raise _bad(path, f"JP2 XMP box of {body} bytes")
                return [_read_exact(handle, body, path, "the JP2 XMP box")]
        position += length
    raise _bad(path, f"more than {MAX_SEGMENTS} JP2 boxes")


# --------------------------------------------------------------------------- API


def _walker(head: bytes):  # noqa: ANN202 - private dispatch
    if head[:2] == b"\xff\xd8":
        return _jpeg_packets
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+", b"IIRO", b"IIRS", b"IIU\x00"):
        return _tiff_packets
    if head[:8] == PNG_SIGNATURE:
        return _png_packets
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _webp_packets
    if head[:12] == JP2_SIGNATURE:
        return _jp2_packets
    return None


def extract_xmp_packets(path: Path) -> list[bytes]:
    """The XMP packets embedded in an image file, main packet first.

    Args:
        path: a JPEG, TIFF/DNG (or TIFF-based raw), PNG, WebP or JP2 file.

    Returns:
        ``[main]`` or ``[main, extended]`` (JPEG Extended XMP, reassembled); ``[]`` when
        the file has no XMP or its format is not one of the above.

    Raises:
        SkipError: BAD_METADATA for a structure that lies (lengths past the end, an
            incomplete Extended XMP, oversized packets).
        OSError: the file cannot be opened or read.
    """
    path = Path(path)
    with files.open_regular(path) as handle:
        size = os.fstat(handle.fileno()).st_size
        walker = _walker(handle.read(16))
        if walker is None:
            return []
        handle.seek(0)
        try:
            return walker(handle, size, path)
        except struct.error as exc:
            raise _bad(path, f"truncated structure ({exc})") from exc


def read_embedded_settings(path: Path, fields: Sequence[str] = ()) -> DevelopSettings | None:
    """Develop settings from the XMP embedded in an image file.

    Args:
        path: the image file.
        fields: extra ``PREFIX:Name`` properties to return.

    Returns:
        Settings with origin ``xmp-embedded`` and ``source=path``, or None when the
        file carries no XMP.

    Raises:
        ValueError: a bad field name.
        SkipError: UNREADABLE (the file cannot be read), BAD_METADATA, INVALID_CROP.
    """
    names = check_field_names(fields)
    path = Path(path)
    try:
        packets = extract_xmp_packets(path)
    except OSError as exc:
        detail = f"cannot read {str(path)!r}: {exc.strerror or exc}"
        raise SkipError(UNREADABLE, detail) from exc
    if not packets:
        return None
    return read_xmp_packets(packets, ORIGIN_EMBEDDED, names, source=path)
