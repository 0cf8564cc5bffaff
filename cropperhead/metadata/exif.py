"""The EXIF / TIFF orientation tag of a photo, read with exifread.

``read_exif_orientation(path)`` returns the IFD0 Orientation (tag 274) of a JPEG, TIFF,
PNG (``eXIf`` chunk), WebP (``EXIF`` chunk), HEIC, DNG or TIFF-based RAW (CR2, NEF, NRW,
ARW, SR2, ORF, RW2, PEF, SRW, 3FR, ERF, DCR, KDC, MOS, IIQ, ...), or ``None`` when the
tag is absent, is not one of the eight EXIF codes, or the file cannot be parsed. It never
raises for a bad file.

The scan's orientation rule is: the catalog's orientation, then XMP ``tiff:Orientation``,
then this value. For RAW files :func:`cropperhead.imaging.read_stored_image` prefers
LibRaw's orientation, which also covers formats exifread cannot parse (CR3, RAF, ...).

The read is bounded and quiet: the EXIF block of a JPEG (APP1 ``Exif``), PNG or WebP is
located here by walking the container's segments or chunks and handed to exifread as a
plain TIFF block, so files without EXIF never reach exifread (which would log a warning
for each); TIFF-based files and HEIC go to exifread directly. Makernotes are skipped
(``details=False``), parsing stops at the Orientation tag of each IFD, and at most
:data:`MAX_EXIF_READ_BYTES` bytes are read from the file, however malformed it is.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import BinaryIO

import exifread

from cropperhead import files

logger = logging.getLogger(__name__)

#: Most bytes one call reads from a file; the orientation lives in the first IFD.
MAX_EXIF_READ_BYTES = 4 * 1024 * 1024

_ORIENTATION_TAG = "Image Orientation"
_EXIF_PREFIX = b"Exif\0\0"


class _ReadBudgetExceededError(Exception):
    """Raised by :class:`_BoundedReader` when a parser reads more than its budget."""


class _BoundedReader(io.RawIOBase):
    """A read-only, seekable view of a binary file that stops after ``budget`` bytes read."""

    def __init__(self, raw: BinaryIO, budget: int) -> None:
        super().__init__()
        self._raw = raw
        self._left = budget

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0 or size > self._left:
            raise _ReadBudgetExceededError(f"read of {size} bytes, {self._left} left")
        data = self._raw.read(size)
        self._left -= len(data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()


def _jpeg_exif_block(reader: BinaryIO) -> bytes | None:
    """The TIFF block of a JPEG's APP1 Exif segment (markers before the scan), or None."""
    reader.seek(2)
    while True:
        marker = reader.read(2)
        if len(marker) < 2 or marker[0] != 0xFF:
            return None
        code = marker[1]
        if code == 0xFF:  # fill byte: the marker code follows
            reader.seek(-1, io.SEEK_CUR)
            continue
        if code == 0x01 or 0xD0 <= code <= 0xD8:  # markers without a length
            continue
        if code in (0xD9, 0xDA):  # end of image, start of scan: no EXIF up front
            return None
        length = int.from_bytes(reader.read(2), "big")
        if length < 2:
            return None
        if code == 0xE1:
            data = reader.read(length - 2)
            if data.startswith(_EXIF_PREFIX):
                return data[len(_EXIF_PREFIX) :]
        else:
            reader.seek(length - 2, io.SEEK_CUR)


def _png_exif_block(reader: BinaryIO) -> bytes | None:
    """The TIFF block of a PNG's ``eXIf`` chunk, or None."""
    reader.seek(8)
    while True:
        header = reader.read(8)
        if len(header) < 8:
            return None
        size, kind = int.from_bytes(header[:4], "big"), header[4:]
        if kind == b"eXIf":
            data = reader.read(size)
            return data[len(_EXIF_PREFIX) :] if data.startswith(_EXIF_PREFIX) else data
        if kind == b"IEND":
            return None
        reader.seek(size + 4, io.SEEK_CUR)  # data and CRC


def _webp_exif_block(reader: BinaryIO) -> bytes | None:
    """The TIFF block of a WebP file's ``EXIF`` chunk, or None.

    exifread expects the chunk to start with ``Exif`` and two NUL bytes; Pillow and
    libwebp write the TIFF header right away, so both forms are accepted here.
    """
    reader.seek(12)
    while True:
        header = reader.read(8)
        if len(header) < 8:
            return None
        kind, size = header[:4], int.from_bytes(header[4:], "little")
        if kind == b"EXIF":
            data = reader.read(size)
            return data[len(_EXIF_PREFIX) :] if data.startswith(_EXIF_PREFIX) else data
        reader.seek(size + (size & 1), io.SEEK_CUR)


def _exif_source(reader: BinaryIO, head: bytes) -> BinaryIO | None:
    """What to hand exifread: the file itself (TIFF, HEIC), a TIFF block, or None."""
    if head[:4] in (b"II*\0", b"MM\0*") or head[:2] in (b"II", b"MM"):
        return reader  # TIFF, DNG and the TIFF-like raws (ORF "IIRO", RW2 "IIU", ...)
    if head[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypavif"):
        return reader
    if head[:3] == b"\xff\xd8\xff":
        block = _jpeg_exif_block(reader)
    elif head[:8] == b"\x89PNG\r\n\x1a\n":
        block = _png_exif_block(reader)
    elif head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        block = _webp_exif_block(reader)
    else:
        return None
    if block is None or block[:2] not in (b"II", b"MM"):
        return None
    return io.BytesIO(block)


def read_exif_orientation(path: Path) -> int | None:
    """Read the EXIF/TIFF Orientation tag (IFD0, tag 274) of a photo.

    Args:
        path: the photo (JPEG, TIFF, PNG, WebP, HEIC, DNG or a TIFF-based RAW).

    Returns:
        The orientation code 1..8 exactly as stored (1 = normal, 6 = turn 90 clockwise
        to display, 8 = turn 90 counter-clockwise, 2/4/5/7 mirrored; see
        lightroom-crop.md), or ``None`` when the file has no such tag, holds a value
        outside 1..8, or cannot be read or parsed.
    """
    try:
        with files.open_regular(path) as raw:
            reader = _BoundedReader(raw, MAX_EXIF_READ_BYTES)
            head = reader.read(16)
            if len(head) < 12:
                return None
            source = _exif_source(reader, head)
            if source is None:
                return None
            tags = exifread.process_file(
                source, stop_tag="Orientation", details=False, extract_thumbnail=False
            )
    except Exception as err:  # exifread raises anything (even AssertionError) on garbage
        logger.debug("no EXIF orientation in %s: %s: %s", path, type(err).__name__, err)
        return None
    values = getattr(tags.get(_ORIENTATION_TAG), "values", None)
    if not values:
        return None
    try:
        value = int(values[0])
    except (TypeError, ValueError):
        return None
    if value not in range(1, 9):
        logger.debug("ignoring EXIF orientation %r of %s: not 1..8", value, path)
        return None
    return value
