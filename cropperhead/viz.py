"""Pictures of crops: turned rectangles drawn on photos, and grids of them."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from cropperhead.geometry import Crop, crop_to_corners

#: Colours used everywhere: the photographer's crop and the model's suggestion.
TARGET_RGB = (46, 204, 64)
PRED_RGB = (255, 65, 54)


def draw_crop(
    image: Image.Image,
    crop: Crop,
    color: tuple[int, int, int],
    box: tuple[float, float, float, float] | None = None,
    width: int = 2,
) -> None:
    """Draw a crop's turned rectangle (and a tick on its top edge) in place.

    Args:
        image: the picture to draw on (modified).
        crop: display-frame crop of the photo.
        color: RGB outline colour.
        box: ``(x0, y0, w, h)`` where the photo lies on ``image`` (letterboxed
            canvases); default the whole image.
        width: line width in pixels.
    """
    x0, y0, w, h = box if box is not None else (0, 0, *image.size)
    pts = crop_to_corners(crop, w, h) + (x0, y0)
    draw = ImageDraw.Draw(image)
    draw.line([tuple(p) for p in pts] + [tuple(pts[0])], fill=color, width=width)
    # Mark the top edge so that a turned crop's orientation is visible.
    mid = (pts[0] + pts[1]) / 2
    inward = (pts[3] - pts[0]) / max(np.linalg.norm(pts[3] - pts[0]), 1e-9)
    draw.line([tuple(mid), tuple(mid + inward * 3 * width)], fill=color, width=width)


def grid(tiles: Sequence[Image.Image], columns: int | None = None, pad: int = 4) -> Image.Image:
    """Tiles of equal size in a grid on a dark background."""
    if not tiles:
        raise ValueError("grid needs at least one tile")
    columns = columns or math.ceil(math.sqrt(len(tiles)))
    rows = math.ceil(len(tiles) / columns)
    tw, th = tiles[0].size
    sheet = Image.new("RGB", (columns * (tw + pad) + pad, rows * (th + pad) + pad), (24, 24, 24))
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        sheet.paste(tile, (pad + c * (tw + pad), pad + r * (th + pad)))
    return sheet


def caption(image: Image.Image, text: str) -> None:
    """Write a short caption in the top-left corner, in place."""
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    left, top, right, bottom = draw.textbbox((3, 2), text, font=font)
    draw.rectangle((left - 2, top - 1, right + 2, bottom + 1), fill=(0, 0, 0))
    draw.text((3, 2), text, fill=(255, 255, 255), font=font)
