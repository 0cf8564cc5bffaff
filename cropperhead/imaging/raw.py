"""Decoding raws with LibRaw (rawpy): the embedded preview, or a render of the sensor data.

How a raw is decoded (``StoredImage.decoder``):

- ``raw-preview``: the camera's embedded preview (rawpy ``extract_thumb``), used when it
  shows the same frame as the raw (aspect within :data:`PREVIEW_ASPECT_TOLERANCE` of the
  default-crop frame, and closer to it than to the uncropped sensor area) and its long
  side is ``>= min_long_side``. Previews are taken to lie in the file's stored
  orientation, like the raw: checked on the Pixel 7 DNG fixture (orientation 8, its
  510 x 382 preview is landscape like the raw) and on generated DNGs; assumed for the
  camera makers' own formats (embedded JPEGs there carry the orientation as a tag, not
  turned pixels). A preview whose aspect matches the turned frame is rejected, so a
  turned preview can only slip through for square frames or a half turn (orientation 3).
- ``raw-half`` / ``raw-full``: LibRaw ``postprocess(half_size=True, user_flip=0,
  use_camera_wb=True, output_bps=8)`` (full size when half is too small or the raw has no
  colour filter array), then cut to the default-crop frame: LibRaw (0.22) does not apply a
  DNG DefaultCrop when it renders, it only reports it (``sizes.crop_*``).

The orientation is LibRaw's (``sizes.flip``), else the file's EXIF orientation.
"""

from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path

import numpy as np
import rawpy
from PIL import Image

from cropperhead.errors import one_line
from cropperhead.imaging.pixels import draft_request, reduce, to_rgb
from cropperhead.imaging.stored import StoredImage, check_pixels
from cropperhead.metadata.exif import read_exif_orientation
from cropperhead.metadata.types import UNREADABLE, UNSUPPORTED, SkipError

logger = logging.getLogger(__name__)

#: Relative aspect difference under which an embedded raw preview counts as showing the
#: raw's default-crop frame.
PREVIEW_ASPECT_TOLERANCE = 0.01
#: LibRaw ``sizes.flip`` -> EXIF orientation (inverse of LibRaw's "50132467"[exif & 7]).
_LIBRAW_FLIP_TO_EXIF = {0: 1, 1: 2, 2: 4, 3: 3, 4: 5, 5: 8, 6: 6, 7: 7}


def read_raw(path: Path, min_long_side: int) -> StoredImage:
    """Decode a raw file (see the module docstring); every failure is a ``SkipError``."""
    try:
        with rawpy.imread(str(path)) as raw:
            return _decode_raw(raw, path, min_long_side)
    except SkipError:
        raise
    except rawpy.LibRawFileUnsupportedError as err:
        version = ".".join(map(str, rawpy.libraw_version))
        if path.suffix.lower() == ".dng":  # LibRaw reads every valid DNG: this one is broken
            raise SkipError(UNREADABLE, f"LibRaw {version} cannot parse this DNG") from err
        raise SkipError(
            UNSUPPORTED,
            f"LibRaw {version} does not recognise this file (a camera newer than LibRaw, "
            "or a damaged file)",
        ) from err
    except Exception as err:  # LibRaw I/O and data errors, MemoryError, ...
        logger.debug("LibRaw failed on %s", path, exc_info=True)
        raise SkipError(UNREADABLE, f"cannot decode raw: {one_line(err, with_type=True)}") from err


def _decode_raw(raw: rawpy.RawPy, path: Path, min_long_side: int) -> StoredImage:
    sizes = raw.sizes
    check_pixels(sizes.raw_width, sizes.raw_height)
    if sizes.width <= 0 or sizes.height <= 0:
        raise SkipError(UNREADABLE, f"LibRaw reports an empty image {sizes.width}x{sizes.height}")
    left, top, crop_w, crop_h = _raw_frame(sizes)
    frame_w, frame_h = _stretched(crop_w, crop_h, sizes.pixel_aspect)
    visible_w, visible_h = _stretched(sizes.width, sizes.height, sizes.pixel_aspect)
    orientation = _raw_orientation(sizes.flip, path)
    needed = min(min_long_side, max(frame_w, frame_h))

    preview = _raw_preview(raw, (frame_w, frame_h), (visible_w, visible_h), needed, path)
    if preview is not None:
        return StoredImage(preview, frame_w, frame_h, orientation, "raw-preview")

    params = {"user_flip": 0, "use_camera_wb": True, "output_bps": 8}
    rgb = raw.postprocess(half_size=True, **params)
    decoder = "raw-half" if rgb.shape[1] * 4 < sizes.width * 3 else "raw-full"
    image = _cut_frame(rgb, sizes, (left, top, crop_w, crop_h))
    if max(image.size) < needed and decoder == "raw-half":
        rgb = raw.postprocess(**params)
        decoder = "raw-full"
        image = _cut_frame(rgb, sizes, (left, top, crop_w, crop_h))
    return StoredImage(reduce(image, min_long_side), frame_w, frame_h, orientation, decoder)


def _raw_frame(sizes: rawpy._rawpy.ImageSizes) -> tuple[int, int, int, int]:
    """The default-crop frame (left, top, width, height) inside LibRaw's visible area."""
    crop_w, crop_h = sizes.crop_width, sizes.crop_height
    if crop_w > 0 and crop_h > 0:
        # raw_inset_crops[0] is in raw coordinates, the render starts at the margins.
        left = sizes.crop_left_margin - sizes.left_margin
        top = sizes.crop_top_margin - sizes.top_margin
        inside = left >= 0 and top >= 0 and left + crop_w <= sizes.width
        inside = inside and top + crop_h <= sizes.height
        # LibRaw's own sanity rule (adjust_to_raw_inset_crop, maxcrop 0.55).
        if inside and crop_w >= 0.55 * sizes.width and crop_h >= 0.55 * sizes.height:
            return left, top, crop_w, crop_h
        logger.debug("ignoring implausible raw crop %s", sizes)
    return 0, 0, sizes.width, sizes.height


def _stretched(width: int, height: int, pixel_aspect: float) -> tuple[int, int]:
    """Size after LibRaw's non-square-pixel stretch (it widens or heightens, never shrinks)."""
    if pixel_aspect > 1.0001:
        return round(width * pixel_aspect), height
    if 0 < pixel_aspect < 0.9999:
        return width, round(height / pixel_aspect)
    return width, height


def _raw_orientation(flip: int, path: Path) -> int | None:
    exif = read_exif_orientation(path)
    libraw = _LIBRAW_FLIP_TO_EXIF.get(flip)
    if libraw is None or (flip == 0 and exif is None):
        return exif
    if exif is not None and exif != libraw:
        logger.debug("%s: LibRaw orientation %d overrides EXIF %d", path, libraw, exif)
    return libraw


def _cut_frame(
    rgb: np.ndarray, sizes: rawpy._rawpy.ImageSizes, frame: tuple[int, int, int, int]
) -> Image.Image:
    """Cut the frame out of a render of the visible area (any scale, even anisotropic)."""
    out_h, out_w = rgb.shape[:2]
    left, top, width, height = frame
    sx, sy = out_w / sizes.width, out_h / sizes.height
    x0, y0 = round(left * sx), round(top * sy)
    x1 = min(out_w, max(x0 + 1, round((left + width) * sx)))
    y1 = min(out_h, max(y0 + 1, round((top + height) * sy)))
    return Image.fromarray(np.ascontiguousarray(rgb[y0:y1, x0:x1, :3]))


def _preview_covers_frame(
    preview_size: tuple[int, int],
    frame_size: tuple[int, int],
    visible_size: tuple[int, int],
    tolerance: float = PREVIEW_ASPECT_TOLERANCE,
) -> bool:
    """Whether a preview of ``preview_size`` shows the raw's default-crop frame.

    Args:
        preview_size: the preview's (width, height) as stored.
        frame_size: the default-crop frame (width, height), stored orientation.
        visible_size: LibRaw's whole visible area (width, height), stored orientation.
        tolerance: largest relative aspect difference accepted.

    Returns:
        True when the aspects agree within ``tolerance`` and the preview is not closer
        to the uncropped area than to the frame. A preview stored turned (aspect of
        the transposed frame) fails unless the frame is nearly square.
    """
    (pw, ph), (fw, fh), (vw, vh) = preview_size, frame_size, visible_size
    if min(pw, ph, fw, fh, vw, vh) <= 0:
        return False
    aspect = pw / ph
    off_frame = abs(aspect / (fw / fh) - 1)
    if off_frame > tolerance:
        return False
    return (vw, vh) == (fw, fh) or off_frame <= abs(aspect / (vw / vh) - 1)


def _raw_preview(
    raw: rawpy.RawPy,
    frame_size: tuple[int, int],
    visible_size: tuple[int, int],
    needed: int,
    path: Path,
) -> Image.Image | None:
    """The embedded preview as RGB when it shows the frame and is big enough, else None."""
    try:
        thumb = raw.extract_thumb()
    except (rawpy.LibRawError, MemoryError) as err:
        logger.debug("%s: no usable preview (%s)", path, type(err).__name__)
        return None
    try:
        if thumb.format == rawpy.ThumbFormat.JPEG:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                opened = Image.open(io.BytesIO(thumb.data), formats=("JPEG",))
            size = opened.size
        elif thumb.format == rawpy.ThumbFormat.BITMAP:
            opened = None
            size = (thumb.data.shape[1], thumb.data.shape[0])
        else:
            return None
        if not _preview_covers_frame(size, frame_size, visible_size):
            logger.debug("%s: preview %s does not show frame %s", path, size, frame_size)
            return None
        if max(size) < needed:
            return None
        if opened is None:
            pixels = np.asarray(thumb.data)
            if pixels.dtype == np.uint16:
                pixels = (pixels >> 8).astype(np.uint8)
            if pixels.ndim == 3 and pixels.shape[2] == 1:
                pixels = pixels[:, :, 0]
            image = Image.fromarray(np.ascontiguousarray(pixels))
        else:
            request = draft_request(size[0], size[1], needed)
            if request is not None:
                opened.draft("RGB", request)
            opened.load()
            image = opened
        return to_rgb(reduce(image, needed), None)
    except Exception as err:  # a broken preview: fall back to the raw data
        logger.debug("%s: preview not decodable: %s", path, one_line(err, with_type=True))
        return None
