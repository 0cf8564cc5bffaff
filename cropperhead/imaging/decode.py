"""Decoding any photo into its stored frame, as cheaply as the caller's size allows.

:func:`read_stored_image` picks the decoder by extension: :mod:`cropperhead.imaging.raw`
for everything LibRaw reads, :mod:`cropperhead.imaging.pillow` for the rest (each says
how it decodes; ``StoredImage.decoder`` names the path taken). Extensions are matched
case-insensitively (``IMG_1.JPG``). Bad input never raises anything but
:class:`~cropperhead.metadata.types.SkipError`: ``unreadable`` for empty, truncated,
corrupt or oversized files (more than :data:`~cropperhead.imaging.stored.MAX_PIXELS`
pixels, the decompression-bomb guard), ``unsupported`` for extensions outside
:data:`~cropperhead.imaging.stored.PHOTO_EXTENSIONS` and raws LibRaw does not know. The
detail is one line.
"""

from __future__ import annotations

from pathlib import Path

from cropperhead import files
from cropperhead.errors import one_line
from cropperhead.imaging.pillow import read_with_pillow
from cropperhead.imaging.raw import read_raw
from cropperhead.imaging.stored import (
    HEIF_EXTENSIONS,
    PHOTO_EXTENSIONS,
    RAW_EXTENSIONS,
    StoredImage,
    check_size,
)
from cropperhead.metadata.types import UNREADABLE, UNSUPPORTED, SkipError


def read_stored_image(path: Path, min_long_side: int) -> StoredImage:
    """Decode a photo into its stored frame, as cheaply as ``min_long_side`` allows.

    Args:
        path: a file with an extension in :data:`PHOTO_EXTENSIONS` (any case).
        min_long_side: the long side the caller needs; the returned pixels are at least
            this big when the source is (JPEG draft, reduce, raw preview, half-size raw).

    Returns:
        The :class:`StoredImage`.

    Raises:
        SkipError: ``unsupported`` for an unknown extension, a HEIC without pillow-heif or
            a raw LibRaw does not know; ``unreadable`` for a missing, empty, truncated,
            corrupt or oversized file.
        ValueError: ``min_long_side`` is not a positive integer.
    """
    check_size(min_long_side, "min_long_side")
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in PHOTO_EXTENSIONS:
        if suffix in HEIF_EXTENSIONS:
            raise SkipError(UNSUPPORTED, f"{suffix} needs the optional pillow-heif package")
        raise SkipError(UNSUPPORTED, f"unsupported file type {suffix or path.name!r}")
    try:
        size_bytes = files.check_regular(path).st_size
    except files.NotRegularFileError as err:
        raise SkipError(UNREADABLE, f"{err.strerror}: not read") from err
    except OSError as err:
        raise SkipError(
            UNREADABLE, f"cannot open the file: {one_line(err, with_type=True)}"
        ) from err
    if size_bytes == 0:
        raise SkipError(UNREADABLE, "empty file (0 bytes)")
    if suffix in RAW_EXTENSIONS:
        return read_raw(path, min_long_side)
    return read_with_pillow(path, min_long_side)
