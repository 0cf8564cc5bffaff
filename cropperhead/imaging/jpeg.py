"""The JPEG files CropperHead writes: saving atomically, recognising its own, completeness."""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image

from cropperhead import files
from cropperhead.imaging.pixels import to_rgb

#: The JPEG comment of the images ``cropperhead scan`` writes: proof that one is ours.
SCAN_COMMENT = b"CropperHead scan image"


def save_jpeg(
    image: Image.Image, path: Path, quality: int = 95, comment: bytes | None = None
) -> None:
    """Write ``image`` as a baseline JPEG atomically (:func:`cropperhead.files.atomic_open`).

    No EXIF is written, so viewers show the pixels as they are. Chroma is not
    subsampled (4:4:4) to keep thin edges sharp at training resolution.

    Args:
        image: the picture; converted to RGB unless it is RGB or L.
        path: destination; its folder must exist. An existing file is replaced.
        quality: JPEG quality, 90..100.
        comment: a JPEG comment (COM segment) to write, e.g. :data:`SCAN_COMMENT`.

    Raises:
        ValueError: ``quality`` outside 90..100.
        OSError: the file cannot be written (the temporary file is removed).
    """
    if isinstance(quality, bool) or not isinstance(quality, int) or not 90 <= quality <= 100:
        raise ValueError(f"JPEG quality must be an integer in 90..100, got {quality!r}")
    picture = image if image.mode in ("RGB", "L") else to_rgb(image, None)
    extra = {"comment": comment} if comment else {}
    with files.atomic_open(path, "wb") as handle:
        picture.save(handle, format="JPEG", quality=quality, subsampling=0, **extra)


def is_scan_image(path: Path) -> bool:
    """Whether ``path`` is a JPEG that ``cropperhead scan`` wrote (its :data:`SCAN_COMMENT`)."""
    try:
        with files.open_regular(path) as handle, Image.open(handle, formats=("JPEG",)) as im:
            return im.info.get("comment") == SCAN_COMMENT
    except Exception:  # noqa: BLE001 - anything unreadable is not provably ours
        return False


def jpeg_is_complete(path: Path) -> bool:
    """Whether ``path`` is a regular file that starts and ends like a whole JPEG.

    Cheap (two small reads): a JPEG cut short by a crash, a full disk or a copy that
    stopped has no end-of-image marker.
    """
    try:
        with files.open_regular(path) as handle:
            head = handle.read(3)
            size = os.fstat(handle.fileno()).st_size
            if size < 4 or head != b"\xff\xd8\xff":
                return False
            handle.seek(size - 2)
            return handle.read(2) == b"\xff\xd9"
    except OSError:
        return False
