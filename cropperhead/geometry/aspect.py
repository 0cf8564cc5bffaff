"""A photographer's aspect choices as classes: the photo's own, 1:1, 4:5, 3:2, 16:9, ...

Photographers rarely crop to an arbitrary shape: they keep the photo's aspect, or pick
one of a few ratios with Lightroom's aspect lock. A crop's *aspect class* names that
choice; ``free`` is everything else.

Ratios are orientation-free: ``4:5`` is a 4:5 portrait crop or a 5:4 landscape one (the
crop's own orientation says which), as Lightroom's lock turns with the crop. ``original``
is the photo's own ratio *in the photo's orientation*; it wins over a named ratio it
equals (a 3:2 crop of a 3:2 photo is ``original``). Aspects are of the crop's own sides in
display pixels (a turned crop's, not its bounding box's).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from cropperhead.geometry.crop import Crop, crop_output_size_px

#: Every class, in the order of a model's class logits. Never reorder: checkpoints keep it.
ASPECT_CLASSES = ("free", "original", "1:1", "4:5", "5:7", "3:4", "2:3", "16:10", "16:9", "2:1")
#: The long-to-short ratio of each named class (``free`` and ``original`` have none).
RATIOS = {
    "1:1": 1.0,
    "4:5": 5 / 4,
    "5:7": 7 / 5,
    "3:4": 4 / 3,
    "2:3": 3 / 2,
    "16:10": 16 / 10,
    "16:9": 16 / 9,
    "2:1": 2.0,
}
FREE, ORIGINAL = "free", "original"
#: Largest relative difference of two aspects that still counts as the same ratio.
ASPECT_TOLERANCE = 0.01


def crop_aspect(crop: Crop, width: float, height: float) -> float:
    """Width over height of the picture ``crop`` makes of a ``width x height`` photo."""
    w, h = crop_output_size_px(crop, width, height)
    return w / h


def same_ratio(a: float, b: float, tolerance: float = ASPECT_TOLERANCE) -> bool:
    """Whether two aspects (width / height) are the same ratio within ``tolerance``."""
    return abs(math.log(a / b)) <= math.log1p(tolerance)


def aspect_class(
    crop: Crop, width: float, height: float, tolerance: float = ASPECT_TOLERANCE
) -> str:
    """The class of a display-frame crop of a ``width x height`` photo (module docstring)."""
    aspect = crop_aspect(crop, width, height)
    if same_ratio(aspect, width / height, tolerance):
        return ORIGINAL
    long_short = max(aspect, 1 / aspect)
    for name, ratio in RATIOS.items():
        if same_ratio(long_short, ratio, tolerance):
            return name
    return FREE


def class_aspect(name: str, crop_aspect_now: float, photo_aspect: float) -> float | None:
    """The aspect (width / height) that class ``name`` asks of a crop, or None for free.

    Args:
        name: an :data:`ASPECT_CLASSES` entry.
        crop_aspect_now: the crop's current aspect: a named ratio keeps its orientation.
        photo_aspect: the photo's aspect (``original``).

    Raises:
        ValueError: an unknown class.
    """
    if name == FREE:
        return None
    if name == ORIGINAL:
        return photo_aspect
    if name not in RATIOS:
        raise ValueError(f"aspect class must be one of {', '.join(ASPECT_CLASSES)}, got {name!r}")
    ratio = RATIOS[name]
    return ratio if crop_aspect_now >= 1 else 1 / ratio


def habit(classes: Sequence[str], min_share: float = 0.03, min_count: int = 3) -> dict[str, float]:
    """The aspect classes a photographer uses, with their share of ``classes``.

    A class counts when it is chosen at least ``min_count`` times and for at least
    ``min_share`` of the crops: a ratio hit by chance a couple of times is not a habit.
    ``free`` always counts (it is what every other class falls back to).

    Returns:
        ``{class: share}`` in :data:`ASPECT_CLASSES` order, shares of all crops.
    """
    n = len(classes)
    counts = {name: 0 for name in ASPECT_CLASSES}
    for name in classes:
        counts[name] += 1
    return {
        name: (counts[name] / n if n else 0.0)
        for name in ASPECT_CLASSES
        if name == FREE or (counts[name] >= min_count and counts[name] >= min_share * n)
    }


__all__ = [
    "ASPECT_CLASSES",
    "ASPECT_TOLERANCE",
    "FREE",
    "ORIGINAL",
    "RATIOS",
    "aspect_class",
    "class_aspect",
    "crop_aspect",
    "habit",
    "same_ratio",
]
