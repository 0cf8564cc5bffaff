"""Decode photos into their stored frame, orient them, resize them, save them.

Lightroom's crop fractions refer to the **stored** frame: the pixels as they lie in the
file, before the EXIF orientation is applied (lightroom-crop.md). So decoding is split in
two steps: :func:`read_stored_image` returns the un-oriented pixels and the full-size
stored frame they show, and :func:`apply_orientation` turns them for display.

API::

    RAW_EXTENSIONS: frozenset[str]    # everything LibRaw reads (.cr2 .cr3 .nef .arw .dng ...)
    IMAGE_EXTENSIONS: frozenset[str]  # .jpg .jpeg .png .tif .tiff .webp (+ .heic .heif when
                                      # the optional pillow-heif package is importable)
    PHOTO_EXTENSIONS: frozenset[str]  # both

    read_stored_image(path, min_long_side) -> StoredImage
    apply_orientation(image, orientation) -> Image      # EXIF 1..8, stored -> display
    resize_long_side(image, size) -> Image              # Lanczos, never enlarges
    display_from_stored(stored, size, orientation) -> DisplayImage
    save_jpeg(image, path, quality=95) -> None          # atomic, 4:4:4
    is_scan_image(path) -> bool                         # a JPEG `cropperhead scan` wrote
    jpeg_is_complete(path) -> bool                      # not cut short

The modules: ``stored`` (extensions, pixel limit, :class:`StoredImage`), ``decode``
(:func:`read_stored_image`, bad input as ``SkipError``), ``pillow`` and ``raw`` (the
decoders), ``pixels`` (cheap shrinking, 8-bit RGB, sRGB), ``display`` (orientation,
resizing, :class:`DisplayImage`), ``jpeg`` (the JPEG files written). The scan's display
loader, with its orientation rule, is :func:`cropperhead.scan.photo.load_photo`.

Threads: Pillow's warnings are caught with ``warnings.catch_warnings``, which is not
thread-safe; decode in worker processes, not threads.
"""

from cropperhead.imaging.decode import read_stored_image
from cropperhead.imaging.display import (
    DisplayImage,
    apply_orientation,
    display_from_stored,
    resize_long_side,
)
from cropperhead.imaging.jpeg import SCAN_COMMENT, is_scan_image, jpeg_is_complete, save_jpeg
from cropperhead.imaging.raw import PREVIEW_ASPECT_TOLERANCE
from cropperhead.imaging.stored import (
    HEIF_AVAILABLE,
    IMAGE_EXTENSIONS,
    MAX_PIXELS,
    PHOTO_EXTENSIONS,
    RAW_EXTENSIONS,
    StoredImage,
)

__all__ = [
    "HEIF_AVAILABLE",
    "IMAGE_EXTENSIONS",
    "MAX_PIXELS",
    "PHOTO_EXTENSIONS",
    "PREVIEW_ASPECT_TOLERANCE",
    "RAW_EXTENSIONS",
    "SCAN_COMMENT",
    "DisplayImage",
    "StoredImage",
    "apply_orientation",
    "display_from_stored",
    "is_scan_image",
    "jpeg_is_complete",
    "read_stored_image",
    "resize_long_side",
    "save_jpeg",
]
