"""From the stored frame to the display frame: orientation, resizing, :class:`DisplayImage`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from PIL import Image

from cropperhead.geometry.orientation import check_orientation, display_size
from cropperhead.imaging.stored import check_size

if TYPE_CHECKING:
    from cropperhead.imaging.stored import StoredImage

#: EXIF orientation 2..8 -> the Pillow transpose that turns stored pixels for display.
TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True)
class DisplayImage:
    """A photo turned to its display frame and resized, as scan and predict use it.

    Attributes:
        image: 8-bit RGB pixels of the **display** frame, long side ``<= size``.
        width: display-frame width W' of the original, full resolution.
        height: display-frame height H' of the original, full resolution.
        orientation: the EXIF orientation 1..8 that was applied.
        decoder: see :attr:`StoredImage.decoder`.
    """

    image: Image.Image
    width: int
    height: int
    orientation: int
    decoder: str


def apply_orientation(image: Image.Image, orientation: int) -> Image.Image:
    """Turn stored-frame pixels into the display frame.

    A stored point (x, y) of a W x H image lands where lightroom-crop.md's table (and
    :func:`cropperhead.geometry.points_stored_to_display`) puts it: 6 turns a quarter
    clockwise, 8 a quarter counter-clockwise, 3 a half turn, 2/4/5/7 are mirrored.

    Args:
        image: pixels in the stored frame, any mode.
        orientation: EXIF orientation 1..8.

    Returns:
        The display-frame image (H x W for 5..8); the image itself for orientation 1.

    Raises:
        ValueError: ``orientation`` is not 1..8.
    """
    method = TRANSPOSE.get(check_orientation(orientation))
    return image if method is None else image.transpose(method)


def resize_long_side(image: Image.Image, size: int) -> Image.Image:
    """Resize so that the long side is ``size`` pixels, keeping the aspect; never enlarge.

    Args:
        image: any image.
        size: target long side in pixels, >= 1.

    Returns:
        The resized image (Lanczos with ``reducing_gap=3``: a fast integer box reduction
        first when the factor is large, then an exact Lanczos resample), or the image
        itself when its long side is already ``<= size``.

    Raises:
        ValueError: ``size`` is not a positive integer.
    """
    check_size(size, "size")
    width, height = image.size
    long_side = max(width, height)
    if long_side <= size:
        return image
    scale = size / long_side
    if width >= height:
        new_size = (size, max(1, round(height * scale)))
    else:
        new_size = (max(1, round(width * scale)), size)
    return image.resize(new_size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def display_from_stored(stored: StoredImage, size: int, orientation: int) -> DisplayImage:
    """Turn a decoded stored frame to its display frame and resize its long side to ``size``.

    Args:
        stored: from :func:`~cropperhead.imaging.read_stored_image`.
        size: long side of the returned image (never enlarged).
        orientation: EXIF orientation 1..8 to apply.

    Returns:
        The :class:`DisplayImage` (``width`` x ``height``: display size of the original).
    """
    check_orientation(orientation)
    image = apply_orientation(resize_long_side(stored.image, size), orientation)
    width, height = display_size(stored.width, stored.height, orientation)
    return DisplayImage(image, int(width), int(height), orientation, stored.decoder)
