"""Decoding with Pillow (JPEG, PNG, TIFF, WebP; HEIC/HEIF through pillow-heif).

How a file is decoded (``StoredImage.decoder``):

- ``pillow-draft``: JPEGs bigger than needed are decoded at 1/2, 1/4 or 1/8 scale by
  libjpeg's DCT scaling (``Image.draft``), the smallest scale whose long side is still
  ``>= min_long_side``.
- ``pillow``: everything else Pillow reads (PNG, TIFF, WebP, small JPEGs), decoded in full,
  then shrunk by an integer factor with ``Image.reduce`` while the long side stays
  ``>= min_long_side``.
- ``pillow-heif``: HEIC/HEIF through pillow-heif (optional). libheif applies the file's
  irot/imir transforms and pillow-heif moves the EXIF orientation to
  ``info["original_orientation"]``; the stored frame is recovered by undoing that
  orientation, assuming (as the HEIF spec asks) that the transforms and EXIF agree.

What Pillow does with orientation, and what this module undoes: Pillow 13 leaves JPEG,
PNG and WebP pixels as stored (the tag is only reported), but a TIFF's ``size`` is already
the turned size when it is opened, and ``load()`` turns its pixels by the Orientation tag
(or XMP ``tiff:Orientation``) and deletes the tag (``TiffImageFile.load_end`` calls
``ImageOps.exif_transpose``). The decoder notes the orientation Pillow sees before
``load()`` and, when Pillow consumed it, turns the pixels back; this also works with
older Pillow releases that do not turn TIFFs.

Threads: Pillow's warnings are caught with ``warnings.catch_warnings``, which is not
thread-safe; decode in worker processes, not threads.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from cropperhead.errors import one_line
from cropperhead.geometry.orientation import INVERSE
from cropperhead.imaging.display import TRANSPOSE, apply_orientation
from cropperhead.imaging.pixels import draft_request, reduce, to_rgb
from cropperhead.imaging.stored import HEIF_EXTENSIONS, StoredImage, check_pixels
from cropperhead.metadata.exif import read_exif_orientation
from cropperhead.metadata.types import UNREADABLE, UNSUPPORTED, SkipError

logger = logging.getLogger(__name__)

_PILLOW_FORMATS = ("JPEG", "PNG", "TIFF", "WEBP")  # JPEG includes MPO
_ORIENTATION_TAG = 0x0112
_heif_registered = False


def read_with_pillow(path: Path, min_long_side: int) -> StoredImage:
    """Decode a file with Pillow (see the module docstring); every failure is a ``SkipError``."""
    Image.init()  # register every plugin, so that ``formats`` names only known ones
    formats = _PILLOW_FORMATS
    if path.suffix.lower() in HEIF_EXTENSIONS:
        try:
            _register_heif()
        except Exception as err:  # installed but broken (a missing libheif, ...)
            raise SkipError(
                UNSUPPORTED, f"pillow-heif does not load: {one_line(err, with_type=True)}"
            ) from err
        formats = ("HEIF",)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")  # bomb warnings, "Corrupt EXIF data", ...
            try:
                with Image.open(path, formats=formats) as opened:
                    return _decode_pillow(opened, path, min_long_side)
            finally:
                for warning in caught:
                    logger.debug("%s: Pillow warned: %s", path, warning.message)
    except SkipError:
        raise
    except Image.DecompressionBombError as err:
        raise SkipError(UNREADABLE, f"too many pixels: {one_line(err, with_type=True)}") from err
    except UnidentifiedImageError as err:
        kinds = "/".join(f.lower() for f in formats)
        raise SkipError(UNREADABLE, f"not a {kinds} image that Pillow can identify") from err
    except Exception as err:  # Pillow raises many types on corrupt data; none may escape
        logger.debug("Pillow failed on %s", path, exc_info=True)
        raise SkipError(UNREADABLE, f"cannot decode: {one_line(err, with_type=True)}") from err


def _decode_pillow(opened: Image.Image, path: Path, min_long_side: int) -> StoredImage:
    # Pillow >= 13 reports a TIFF's turned size here; only the decoded pixels are trusted.
    open_w, open_h = opened.size
    check_pixels(open_w, open_h)
    if opened.format == "HEIF":
        return _decode_heif(opened, path, min_long_side)
    before = _pillow_orientation(opened)
    scale = 1
    if opened.format in ("JPEG", "MPO"):
        request = draft_request(open_w, open_h, min_long_side)
        drafted = opened.draft("RGB", request) if request is not None else None
        if drafted is not None:
            scale = round(open_w / drafted[1][2])
    opened.load()
    image: Image.Image = opened
    if before in TRANSPOSE and _pillow_orientation(opened) != before:
        # Pillow turned the pixels itself (TiffImagePlugin.load_end); turn them back.
        logger.debug("undoing orientation %d that Pillow applied to %s", before, path)
        image = apply_orientation(opened, INVERSE[before])
    width, height = _full_size(image.size, (open_w, open_h), scale)
    _check_tiff_size(opened, width, height)
    decoder = "pillow-draft" if scale > 1 else "pillow"
    image = to_rgb(reduce(image, min_long_side), opened.info.get("icc_profile"))
    if image is opened:
        image = opened.copy()  # the file is closed on return
    return StoredImage(image, width, height, read_exif_orientation(path), decoder)


def _full_size(decoded: tuple[int, int], opened: tuple[int, int], scale: int) -> tuple[int, int]:
    """Full-resolution stored size, from pixels decoded at 1/scale of the opened size."""
    if scale == 1:
        return decoded
    for width, height in (opened, opened[::-1]):
        if decoded == (-(-width // scale), -(-height // scale)):
            return width, height
    raise SkipError(
        UNREADABLE, f"decoded {decoded[0]}x{decoded[1]} does not fit {opened[0]}x{opened[1]}"
    )


def _decode_heif(opened: Image.Image, path: Path, min_long_side: int) -> StoredImage:
    original = opened.info.get("original_orientation")
    opened.load()
    image: Image.Image = opened
    if original in TRANSPOSE:
        image = apply_orientation(opened, INVERSE[original])
    width, height = image.size
    image = to_rgb(reduce(image, min_long_side), opened.info.get("icc_profile"))
    if image is opened:
        image = opened.copy()
    if original in TRANSPOSE:
        orientation: int | None = original
    else:  # pillow-heif reports None both for "1" and for "absent"; its EXIF says which
        orientation = 1 if _pillow_orientation(opened) is not None else None
    return StoredImage(image, width, height, orientation, "pillow-heif")


def _register_heif() -> None:
    global _heif_registered
    if not _heif_registered:
        import pillow_heif

        pillow_heif.register_heif_opener()
        _heif_registered = True


def _pillow_orientation(image: Image.Image) -> int | None:
    try:
        value = image.getexif().get(_ORIENTATION_TAG)
    except Exception:  # a broken EXIF block must not stop the decode
        logger.debug("unreadable EXIF block", exc_info=True)
        return None
    return value if isinstance(value, int) else None


def _check_tiff_size(opened: Image.Image, width: int, height: int) -> None:
    """Refuse a TIFF whose stored size disagrees with its tags (orientation mix-up)."""
    tags = getattr(opened, "tag_v2", None)
    if opened.format != "TIFF" or tags is None:
        return
    tagged = (tags.get(256), tags.get(257))
    if tagged != (width, height):
        raise SkipError(
            UNREADABLE,
            f"TIFF size {width}x{height} after orientation handling does not match its "
            f"tags {tagged[0]}x{tagged[1]}",
        )
