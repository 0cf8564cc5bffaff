"""Pixels as the decoders hand them on: cheaply shrunk, 8-bit RGB, sRGB.

Shrinking: JPEG DCT scaling (:func:`draft_request` for ``Image.draft``) and integer
``Image.reduce`` (:func:`reduce`), never below the long side the caller needs.

Colour (:func:`to_rgb`): every result is 8-bit RGB. 16-bit images are scaled (not
clipped) to 8 bits, palette and alpha images are composited over white, CMYK is
converted. When the file carries an ICC profile that is not sRGB and Pillow's ImageCms
(LittleCMS) is available, the pixels are converted to sRGB (perceptual intent); without
ImageCms, or when the profile cannot be used, the pixels are kept as they are. Raw
renders are sRGB already; embedded previews are taken as sRGB. LAB and other exotic
modes Pillow cannot convert make the decoders skip the file as ``unreadable``.
"""

from __future__ import annotations

import io
import logging
import math

import numpy as np
from PIL import Image

from cropperhead.errors import one_line

try:
    from PIL import ImageCms
except ImportError:  # Pillow built without LittleCMS
    ImageCms = None

logger = logging.getLogger(__name__)

_REDUCIBLE_MODES = frozenset({"L", "LA", "La", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "I", "F"})
_WHITE = (255, 255, 255)


def draft_request(width: int, height: int, min_long_side: int) -> tuple[int, int] | None:
    """The size to ask ``Image.draft`` for, so that the long side stays >= min_long_side."""
    long_side = max(width, height)
    if long_side < 2 * min_long_side:
        return None
    scale = min_long_side / long_side
    return max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale))


def reduce(image: Image.Image, min_long_side: int) -> Image.Image:
    """Shrink by the largest integer factor that keeps the long side ``>= min_long_side``."""
    factor = max(image.size) // min_long_side
    if factor < 2 or image.mode not in _REDUCIBLE_MODES:
        return image
    return image.reduce(factor)


def to_rgb(image: Image.Image, icc_profile: bytes | None) -> Image.Image:
    """8-bit RGB: deep images scaled, alpha over white, ICC profiles converted to sRGB."""
    image = _to_8bit(image)
    if image.mode in ("P", "PA", "1"):
        image = image.convert("RGBA" if image.mode != "1" else "L")
    if image.mode in ("RGBA", "LA", "La", "RGBa"):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, _WHITE)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        image = flat
    if icc_profile:
        converted = _icc_to_srgb(image, icc_profile)
        if converted is not None:
            return converted
    return image if image.mode == "RGB" else image.convert("RGB")


def _to_8bit(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode.startswith("I;16") or mode == "I":
        values = np.asarray(image).astype(np.float64)
        if mode == "I" and values.max(initial=0) <= 255:  # 8-bit data in 32-bit ints
            return Image.fromarray(np.clip(values, 0, 255).astype(np.uint8))
        return Image.fromarray(np.round(np.clip(values, 0, 65535) / 257).astype(np.uint8))
    if mode == "F":
        values = np.asarray(image).astype(np.float64)
        if values.max(initial=0) <= 1.0:
            values = values * 255
        return Image.fromarray(np.round(np.clip(values, 0, 255)).astype(np.uint8))
    return image


def _icc_to_srgb(image: Image.Image, icc_profile: bytes) -> Image.Image | None:
    if ImageCms is None:
        return None
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        if "srgb" in ImageCms.getProfileDescription(source).lower() and image.mode == "RGB":
            return None  # already sRGB
        srgb = ImageCms.createProfile("sRGB")
        return ImageCms.profileToProfile(image, source, srgb, outputMode="RGB")
    except Exception as err:  # a broken or mismatched profile: keep the pixels
        logger.debug("ICC profile not applied: %s", one_line(err, with_type=True))
        return None
