"""Photographer styles for the learning benchmark: scenes, the crops they get, the files.

Each style is one photographer's habit, applied to generated scenes. A scene is a level
*world* (a horizon or another horizontal line, textures, distractors and one subject)
seen through a camera tilted by ``tilt_deg``; the photo is that world turned and cut to
``W x H`` display pixels. The photographer's crop is computed from the scene's
parameters only (subject kind, position and size, horizon height and tilt), never from
noise, so a model that looks at the picture can learn it (``jitter`` adds a human's
noise on purpose: the part no model can learn).

Styles (``STYLES``):

- ``thirds``: the subject's centre on the nearest rule-of-thirds intersection, the
  photo's own aspect, horizon levelled (crop angle = tilt), crop height three times the
  subject's height.
- ``tight``: a tight crop centred on the subject, the subject filling 60% of the crop
  height, never straightened; 4:5 (portrait) for people, 1:1 for round subjects
  (flowers, balls).
- ``sky``: loose crops, 85% of the largest crop, that keep a lot of sky: the horizon on
  the lower third line, levelled, centred on the subject horizontally; 16:9 on landscape
  photos, the photo's aspect on portrait ones. Landscapes only.
- ``sometimes``: leaves photos alone whose horizon is level and whose subject is already
  near the centre (one in three: reviewed, ``crs:HasCrop`` False); the others are
  cropped to 80% of the largest crop, centred on the subject, original aspect, levelled.
- ``jitter``: the subject on the nearest golden-ratio intersection (0.382 / 0.618), the
  photo's aspect, levelled, crop height 2.8 times the subject's, then a human's jitter:
  centre moved by N(0, 2%) of the frame, size scaled by N(1, 5%), angle off by
  N(0, 0.3 deg).

Where a crop would leave the photo it is moved inside (and shrunk when it cannot fit),
which also depends only on the scene.

Coordinates: the *world* frame has its origin at the photo's centre, x right, y down,
level horizon; a world point ``w`` is seen at ``(W / 2, H / 2) + R(tilt) w`` in the
display frame, ``R`` turning clockwise on screen for a positive tilt. A crop that levels
the horizon is therefore a rectangle aligned with the world's axes with Lightroom angle
``tilt`` (docs/interfaces.md: a positive angle turns the crop box clockwise).

Files (the cycle :data:`RECIPES`): JPEG with an XMP sidecar or embedded XMP, TIFF
(deflate) and PNG with either, DNG (16-bit CFA with a JPEG preview, as Lightroom's DNG
converter writes them) with either; some stored sideways with EXIF orientation 6, 8 or 3.
Crops are written in the stored frame with the project's own writer
(:func:`cropperhead.metadata.xmp.merge_crop_into_xmp` on a Lightroom-like develop
packet), uncropped photos as a develop packet with ``crs:HasCrop="False"``.
"""

from __future__ import annotations

import colorsys
import io
import json
import math
import multiprocessing
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw
from PIL.PngImagePlugin import PngInfo

from cropperhead.geometry import (
    Crop,
    CropFrame,
    crop_display_to_stored,
    crop_is_inside,
    crop_to_frame,
    frame_to_crop,
    largest_crop,
)
from cropperhead.metadata.xmp import merge_crop_into_xmp

#: Bump when scenes, habits or files change, so that cached libraries are rebuilt.
GENERATOR_VERSION = 2
STYLES = ("thirds", "tight", "sky", "sometimes", "jitter")
STYLE_SUMMARY = {
    "thirds": "subject on the nearest thirds point, own aspect, levelled, size from subject",
    "tight": "tight on the subject, 4:5 for people / 1:1 for round things, never levelled",
    "sky": "loose, horizon on the lower third, levelled, 16:9 landscape / own aspect portrait",
    "sometimes": "leaves level, centred photos alone; else centred on subject, levelled",
    "jitter": "golden-ratio point, own aspect, levelled, plus a human's jitter",
}
_STYLE_CODE = {name: i + 11 for i, name in enumerate(STYLES)}
PARTS = {"train": 0, "test": 1}

BACKGROUNDS = ("landscape", "wall", "interior", "studio", "clutter")
LANDSCAPES = ("sea", "field", "desert", "city")
TALL = ("person",)
ROUND = ("flower", "ball")

#: (format, where the XMP goes, EXIF orientation), cycled over the photos of a library.
RECIPES = (
    ("jpeg", "sidecar", 1),
    ("jpeg", "sidecar", 6),
    ("jpeg", "embedded", 1),
    ("jpeg", "sidecar", 8),
    ("tiff", "embedded", 1),
    ("png", "sidecar", 1),
    ("jpeg", "embedded", 3),
    ("dng", "embedded", 1),
    ("jpeg", "sidecar", 1),
    ("tiff", "sidecar", 1),
    ("png", "embedded", 8),
    ("dng", "sidecar", 6),
)
_EXTENSION = {"jpeg": ".jpg", "tiff": ".tif", "png": ".png", "dng": ".dng"}

THIRDS_SUBJECT_SCALE = 3.0
TIGHT_FILL = 0.6
SKY_SCALE = 0.85
SOMETIMES_SCALE = 0.8
GOLDEN = 0.618 - 0.5  # offset of a golden-section line from the centre, per frame width
JITTER_SUBJECT_SCALE = 2.8
JITTER_POSITION = 0.02
JITTER_SIZE = 0.05
JITTER_ANGLE_DEG = 0.3


@dataclass(frozen=True)
class Scene:
    """What a photo shows; everything a style's crop depends on.

    Attributes:
        width: display width W' in pixels.
        height: display height H' in pixels.
        tilt_deg: the camera's tilt; the crop angle that levels the horizon.
        background: one of :data:`BACKGROUNDS`.
        variant: the landscape kind (:data:`LANDSCAPES`) or ``""``.
        horizon_y: the world y of the horizon (or floor line, table edge) in pixels.
        subject: ``person``, ``flower`` or ``ball``.
        subject_x: world x of the subject's centre in pixels.
        subject_y: world y of the subject's centre in pixels.
        subject_h: the subject's height (people) or diameter (round) in pixels.
    """

    width: int
    height: int
    tilt_deg: float
    background: str
    variant: str
    horizon_y: float
    subject: str
    subject_x: float
    subject_y: float
    subject_h: float

    @property
    def tall(self) -> bool:
        """A figure (4:5 in ``tight``), not a round subject."""
        return self.subject in TALL

    def world_to_display(self, x: float, y: float) -> tuple[float, float]:
        """Display-frame pixels of a world point."""
        return world_to_display(self.width, self.height, self.tilt_deg, x, y)


def world_to_display(
    width: int, height: int, tilt_deg: float, x: float, y: float
) -> tuple[float, float]:
    """Display-frame pixels of world point ``(x, y)`` of a ``width x height`` photo."""
    t = math.radians(tilt_deg)
    c, s = math.cos(t), math.sin(t)
    return width / 2 + c * x - s * y, height / 2 + s * x + c * y


def display_to_world(
    width: int, height: int, tilt_deg: float, x: float, y: float
) -> tuple[float, float]:
    """World coordinates of display-frame point ``(x, y)`` (inverse of the above)."""
    t = math.radians(tilt_deg)
    c, s = math.cos(t), math.sin(t)
    dx, dy = x - width / 2, y - height / 2
    return c * dx + s * dy, -s * dx + c * dy


# --------------------------------------------------------------------------- habits


def fit_crop(
    width: int, height: int, cx: float, cy: float, half_w: float, half_h: float, angle: float
) -> Crop:
    """The crop of this centre, half size and angle, moved (and shrunk) into the photo.

    Args:
        width: display width W'.
        height: display height H'.
        cx: wanted centre x in display pixels.
        cy: wanted centre y in display pixels.
        half_w: half the output width in pixels.
        half_h: half the output height in pixels.
        angle: Lightroom angle in degrees.

    Returns:
        The display-frame crop: the same aspect and angle, shrunk only when even a
        centred crop of this size would leave the photo, its centre clamped so that all
        four corners lie inside.
    """
    t = math.radians(angle)
    c, s = abs(math.cos(t)), abs(math.sin(t))
    box_x, box_y = half_w * c + half_h * s, half_w * s + half_h * c
    shrink = min(1.0, width / 2 / box_x, height / 2 / box_y) * (1 - 1e-9)
    half_w, half_h = half_w * shrink, half_h * shrink
    box_x, box_y = box_x * shrink, box_y * shrink
    cx = min(max(cx, box_x), width - box_x)
    cy = min(max(cy, box_y), height - box_y)
    crop = frame_to_crop(CropFrame(cx, cy, half_w, half_h, angle), width, height)
    if not crop_is_inside(crop, width, height, tol_px=1e-6):
        raise ValueError(f"fitted crop {crop} leaves the {width} x {height} photo")
    return crop


def _largest_half_height(scene: Scene, aspect: float, angle: float) -> float:
    crop = largest_crop(scene.width, scene.height, aspect, angle)
    return crop_to_frame(crop, scene.width, scene.height).half_height_px


def _level_crop(scene: Scene, wx: float, wy: float, half_w: float, half_h: float) -> Crop:
    """A world-aligned crop (levels the horizon) centred at world ``(wx, wy)``."""
    cx, cy = scene.world_to_display(wx, wy)
    return fit_crop(scene.width, scene.height, cx, cy, half_w, half_h, scene.tilt_deg)


def _sides(scene: Scene) -> tuple[float, float]:
    """Which intersection is nearest: -1 for left / top of the photo's centre, else +1."""
    return (-1.0 if scene.subject_x < 0 else 1.0), (-1.0 if scene.subject_y < 0 else 1.0)


def crop_thirds(scene: Scene, rng: np.random.Generator) -> Crop | None:
    """``thirds``: the subject on the nearest thirds point (see the module docstring)."""
    aspect = scene.width / scene.height
    k = _largest_half_height(scene, aspect, scene.tilt_deg)
    q = float(np.clip(THIRDS_SUBJECT_SCALE * scene.subject_h / 2, 0.35 * k, 0.95 * k))
    p = q * aspect
    side_x, side_y = _sides(scene)
    # The intersection lies a sixth of the crop's width (2p) from its centre.
    wx = scene.subject_x - side_x * p / 3
    wy = scene.subject_y - side_y * q / 3
    return _level_crop(scene, wx, wy, p, q)


def crop_tight(scene: Scene, rng: np.random.Generator) -> Crop | None:
    """``tight``: centred on the subject, 4:5 or 1:1 by subject kind, not straightened."""
    aspect = 0.8 if scene.tall else 1.0
    q = scene.subject_h / TIGHT_FILL / 2
    cx, cy = scene.world_to_display(scene.subject_x, scene.subject_y)
    return fit_crop(scene.width, scene.height, cx, cy, q * aspect, q, 0.0)


def crop_sky(scene: Scene, rng: np.random.Generator) -> Crop | None:
    """``sky``: loose, the horizon on the lower third, 16:9 on landscape photos."""
    aspect = 16 / 9 if scene.width > scene.height else scene.width / scene.height
    q = SKY_SCALE * _largest_half_height(scene, aspect, scene.tilt_deg)
    # The lower third line lies q / 3 below the crop's centre.
    return _level_crop(scene, scene.subject_x, scene.horizon_y - q / 3, q * aspect, q)


def leaves_alone(scene: Scene) -> bool:
    """``sometimes`` leaves a photo uncropped: level and the subject near the centre."""
    centred = (
        max(abs(scene.subject_x) / scene.width, abs(scene.subject_y) / scene.height)
        <= SOMETIMES_CENTRED
    )
    return scene.tilt_deg == 0 and centred


def crop_sometimes(scene: Scene, rng: np.random.Generator) -> Crop | None:
    """``sometimes``: None (left alone) or centred on the subject, levelled."""
    if leaves_alone(scene):
        return None
    aspect = scene.width / scene.height
    q = SOMETIMES_SCALE * _largest_half_height(scene, aspect, scene.tilt_deg)
    return _level_crop(scene, scene.subject_x, scene.subject_y, q * aspect, q)


def crop_jitter(scene: Scene, rng: np.random.Generator) -> Crop | None:
    """``jitter``: golden-ratio placement plus a human's noise (uses ``rng``)."""
    aspect = scene.width / scene.height
    k = _largest_half_height(scene, aspect, scene.tilt_deg)
    q = float(np.clip(JITTER_SUBJECT_SCALE * scene.subject_h / 2, 0.35 * k, 0.95 * k))
    q *= float(np.exp(rng.normal(0, JITTER_SIZE)))
    p = q * aspect
    side_x, side_y = _sides(scene)
    wx = scene.subject_x - side_x * 2 * GOLDEN * p + rng.normal(0, JITTER_POSITION) * scene.width
    wy = scene.subject_y - side_y * 2 * GOLDEN * q + rng.normal(0, JITTER_POSITION) * scene.height
    angle = float(np.clip(scene.tilt_deg + rng.normal(0, JITTER_ANGLE_DEG), -44, 44))
    cx, cy = scene.world_to_display(wx, wy)
    return fit_crop(scene.width, scene.height, cx, cy, p, q, angle)


HABITS: dict[str, Callable[[Scene, np.random.Generator], Crop | None]] = {
    "thirds": crop_thirds,
    "tight": crop_tight,
    "sky": crop_sky,
    "sometimes": crop_sometimes,
    "jitter": crop_jitter,
}

# --------------------------------------------------------------------------- scenes

SOMETIMES_CENTRED = 0.03
SOMETIMES_OFF_CENTRE = 0.15
MAX_TILT_DEG = 5.0


def make_scene(style: str, rng: np.random.Generator, fine: bool | None = None) -> Scene:
    """A random scene for ``style``: size, tilt, background, subject (kind, place, size).

    Args:
        style: one of :data:`STYLES`.
        rng: the photo's generator.
        fine: ``sometimes`` only: a photo that needs no crop (level, subject centred) or
            one that does; None draws it (one in three).
    """
    if style not in HABITS:
        raise ValueError(f"unknown style {style!r}; known: {', '.join(STYLES)}")
    portrait = rng.random() < (0.2 if style == "sky" else 0.3)
    long_side = int(rng.choice([640, 704, 768, 832, 896]))
    aspect = float(rng.choice([1.5, 4 / 3, 1.25], p=[0.5, 0.4, 0.1]))
    short_side = 2 * round(long_side / aspect / 2)
    width, height = (short_side, long_side) if portrait else (long_side, short_side)
    short = min(width, height)

    tilt = float(rng.uniform(-MAX_TILT_DEG, MAX_TILT_DEG))
    if style == "sky":
        background = "landscape"
    else:
        background = str(rng.choice(BACKGROUNDS))
    variant = str(rng.choice(LANDSCAPES)) if background == "landscape" else ""
    horizon_frac = {
        "landscape": (0.45, 0.8) if style == "sky" else (0.3, 0.7),
        "wall": (0.6, 0.85),
        "interior": (0.6, 0.8),
        "studio": (0.55, 0.8),
        "clutter": (0.45, 0.7),
    }[background]
    horizon_y = (float(rng.uniform(*horizon_frac)) - 0.5) * height

    if style == "tight":
        subject = str(rng.choice(TALL)) if rng.random() < 0.5 else str(rng.choice(ROUND))
    else:
        subject = str(rng.choice(("person", "person", "flower", "ball")))
    if subject in TALL:
        size = float(rng.uniform(0.18, 0.55)) * short
    else:
        size = float(rng.uniform(0.1, 0.32)) * short
    if style == "sky":
        size *= 0.5

    # Where the subject is seen (display fractions), kept inside the picture.
    margin_x = min(0.45, 0.6 * size / width + 0.04)
    margin_y = min(0.45, 0.6 * size / height + 0.04)
    fx = float(rng.uniform(max(0.12, margin_x), min(0.88, 1 - margin_x)))
    fy = float(rng.uniform(max(0.2, margin_y), min(0.85, 1 - margin_y)))
    if style == "sky":
        # Standing on the land, a little below the horizon.
        ground = 0.5 + horizon_y / height
        fy = float(np.clip(ground + rng.uniform(0.02, 0.12), margin_y, 1 - margin_y))
    if style == "sometimes":
        if fine is None:
            fine = bool(rng.random() < 1 / 3)
        fx, fy, tilt = _sometimes_layout(rng, fine, fx, fy, tilt, margin_x, margin_y)
    sx, sy = display_to_world(width, height, tilt, fx * width, fy * height)
    return Scene(width, height, tilt, background, variant, horizon_y, subject, sx, sy, size)


def _sometimes_layout(
    rng: np.random.Generator,
    fine: bool,
    fx: float,
    fy: float,
    tilt: float,
    mx: float,
    my: float,
) -> tuple[float, float, float]:
    """Fine photos need nothing; the others are tilted, off-centre or both."""
    if fine:
        d = SOMETIMES_CENTRED * 0.9
        return 0.5 + rng.uniform(-d, d), 0.5 + rng.uniform(-d, d), 0.0
    tilted = rng.random() < 0.6
    tilt = float(np.sign(tilt) * rng.uniform(1.5, MAX_TILT_DEG)) if tilted else 0.0
    off = rng.random() < 0.5 or not tilted
    if off:
        for _ in range(100):
            if max(abs(fx - 0.5), abs(fy - 0.5)) >= SOMETIMES_OFF_CENTRE:
                break
            fx = float(rng.uniform(max(0.12, mx), min(0.88, 1 - mx)))
            fy = float(rng.uniform(max(0.2, my), min(0.85, 1 - my)))
        else:
            fx = 0.5 + SOMETIMES_OFF_CENTRE + 0.05
    else:
        d = 0.1
        fx, fy = 0.5 + rng.uniform(-d, d), 0.5 + rng.uniform(-d, d)
    return fx, fy, tilt


# --------------------------------------------------------------------------- rendering


def _hsv(h: float, s: float, v: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return int(r * 255), int(g * 255), int(b * 255)


def _muted(rng: np.random.Generator) -> tuple[int, int, int]:
    return _hsv(rng.random(), rng.uniform(0, 0.35), rng.uniform(0.3, 0.8))


def _vertical_gradient(
    size: tuple[int, int], stops: list[tuple[float, tuple[int, int, int]]]
) -> Image.Image:
    """An image whose rows go through ``(y_px, colour)`` stops (cheap: one column, resized)."""
    w, h = size
    ys = np.arange(h, dtype=np.float64)
    pos = np.array([s[0] for s in stops])
    cols = np.array([s[1] for s in stops], dtype=np.float64)
    column = np.stack([np.interp(ys, pos, cols[:, i]) for i in range(3)], axis=-1)
    strip = Image.fromarray(column.astype(np.uint8)[:, None, :])
    return strip.resize((w, h), Image.Resampling.NEAREST)


def _paste_gradient(
    canvas: Image.Image,
    box: tuple[int, int, int, int],
    stops: list[tuple[float, tuple[int, int, int]]],
) -> None:
    x0, y0, x1, y1 = box
    if x1 <= x0 or y1 <= y0:
        return
    local = [(y - y0, c) for y, c in stops]
    canvas.paste(_vertical_gradient((x1 - x0, y1 - y0), local), (x0, y0))


class _Canvas:
    """The level world, drawn in canvas pixels (world origin at the canvas centre)."""

    def __init__(self, scene: Scene) -> None:
        s = abs(math.sin(math.radians(scene.tilt_deg)))
        # Big enough that the turned photo rectangle lies inside; even margins keep the
        # canvas centre on the photo centre.
        self.w = scene.width + 2 * math.ceil(scene.height * s / 2 + 3)
        self.h = scene.height + 2 * math.ceil(scene.width * s / 2 + 3)
        self.ox, self.oy = self.w / 2, self.h / 2
        self.image = Image.new("RGB", (self.w, self.h))
        self.draw = ImageDraw.Draw(self.image)
        self.scene = scene
        self.horizon = int(round(self.oy + scene.horizon_y))

    def xy(self, wx: float, wy: float) -> tuple[float, float]:
        return self.ox + wx, self.oy + wy


def _sky(cv: _Canvas, rng: np.random.Generator, warm: bool = False) -> None:
    top = _hsv(rng.uniform(0.55, 0.63), rng.uniform(0.45, 0.8), rng.uniform(0.6, 0.9))
    low = _hsv(rng.uniform(0.05, 0.12) if warm else rng.uniform(0.53, 0.6), 0.2, 0.97)
    _paste_gradient(cv.image, (0, 0, cv.w, cv.horizon), [(0, top), (cv.horizon, low)])
    for _ in range(int(rng.integers(0, 5))):
        x, y = rng.uniform(0, cv.w), rng.uniform(0.05, 0.8) * cv.horizon
        rx, ry = rng.uniform(0.03, 0.1) * cv.w, rng.uniform(0.01, 0.03) * cv.h
        grey = int(rng.uniform(225, 250))
        cv.draw.ellipse((x - rx, y - ry, x + rx, y + ry), fill=(grey, grey, grey))


def _landscape(cv: _Canvas, rng: np.random.Generator) -> None:
    variant, hz, w, h = cv.scene.variant, cv.horizon, cv.w, cv.h
    _sky(cv, rng, warm=variant == "desert")
    if variant == "sea":
        far = _hsv(rng.uniform(0.52, 0.62), rng.uniform(0.5, 0.9), rng.uniform(0.35, 0.6))
        near = _hsv(rng.uniform(0.5, 0.6), rng.uniform(0.4, 0.8), rng.uniform(0.2, 0.4))
        _paste_gradient(cv.image, (0, hz, w, h), [(hz, far), (h, near)])
        light = tuple(min(255, c + 60) for c in far)
        for _ in range(60):
            y = rng.uniform(hz + 2, h)
            depth = (y - hz) / max(h - hz, 1)
            x, length = rng.uniform(0, w), (0.02 + 0.1 * depth) * w
            cv.draw.line((x, y, x + length, y), fill=light, width=max(1, int(3 * depth)))
    elif variant == "field":
        far = _hsv(rng.uniform(0.15, 0.3), rng.uniform(0.4, 0.8), rng.uniform(0.45, 0.7))
        near = _hsv(rng.uniform(0.12, 0.3), rng.uniform(0.5, 0.9), rng.uniform(0.25, 0.45))
        _paste_gradient(cv.image, (0, hz, w, h), [(hz, far), (h, near)])
        dark = tuple(int(c * 0.75) for c in near)
        y, step = hz + 4.0, 3.0
        while y < h:
            cv.draw.line((0, y, w, y), fill=dark, width=max(1, int(step / 5)))
            step *= 1.25
            y += step
        for _ in range(int(rng.integers(2, 7))):  # trees on the horizon
            x, r = rng.uniform(0, w), rng.uniform(0.01, 0.03) * h
            cv.draw.rectangle((x - r / 5, hz - 1.6 * r, x + r / 5, hz), fill=(70, 50, 30))
            cv.draw.ellipse((x - r, hz - 3 * r, x + r, hz - 1.2 * r), fill=(40, 80, 40))
    elif variant == "desert":
        sand = _hsv(rng.uniform(0.07, 0.12), rng.uniform(0.3, 0.6), rng.uniform(0.7, 0.9))
        deep = tuple(int(c * 0.8) for c in sand)
        _paste_gradient(cv.image, (0, hz, w, h), [(hz, sand), (h, deep)])
        for _ in range(int(rng.integers(2, 5))):  # dunes, below the horizon
            ry = rng.uniform(0.05, 0.15) * h
            y = rng.uniform(hz + ry + 2, h + ry)
            x, rx = rng.uniform(0, w), rng.uniform(0.2, 0.5) * w
            shade = tuple(int(c * rng.uniform(0.85, 0.95)) for c in sand)
            cv.draw.ellipse((x - rx, y - ry, x + rx, y + ry), fill=shade)
    else:  # city: a skyline standing on the horizon, a street below
        street = _hsv(0, 0, rng.uniform(0.25, 0.45))
        _paste_gradient(cv.image, (0, hz, w, h), [(hz, street), (h, street)])
        x = -rng.uniform(0, 0.05) * w
        while x < w:
            bw, bh = rng.uniform(0.04, 0.12) * w, rng.uniform(0.05, 0.25) * h
            colour = _hsv(rng.uniform(0, 1), rng.uniform(0, 0.2), rng.uniform(0.3, 0.7))
            cv.draw.rectangle((x, hz - bh, x + bw, hz), fill=colour)
            lit = tuple(min(255, c + 50) for c in colour)
            for wy in np.arange(hz - bh + 6, hz - 6, 12):
                cv.draw.line((x + 4, wy, x + bw - 4, wy), fill=lit, width=2)
            x += bw + rng.uniform(0, 0.03) * w
        cv.draw.line((0, hz + 2, w, hz + 2), fill=(230, 230, 200), width=2)


def _floor(cv: _Canvas, rng: np.random.Generator) -> None:
    hz, w, h = cv.horizon, cv.w, cv.h
    wood = _hsv(rng.uniform(0.05, 0.1), rng.uniform(0.3, 0.6), rng.uniform(0.35, 0.65))
    _paste_gradient(cv.image, (0, hz, w, h), [(hz, wood), (h, tuple(int(c * 0.8) for c in wood))])
    joint = tuple(int(c * 0.7) for c in wood)
    y, step = hz + 3.0, 6.0
    while y < h:
        cv.draw.line((0, y, w, y), fill=joint, width=1)
        step *= 1.2
        y += step


def _wall(cv: _Canvas, rng: np.random.Generator) -> None:
    hz, w = cv.horizon, cv.w
    brick = _hsv(rng.uniform(0.0, 0.1), rng.uniform(0.2, 0.7), rng.uniform(0.4, 0.85))
    mortar = _hsv(0, 0, rng.uniform(0.6, 0.9))
    cv.draw.rectangle((0, 0, w, hz), fill=brick)
    bh = cv.scene.height / rng.uniform(14, 28)
    bw = bh * rng.uniform(2.0, 3.0)
    row, y = 0, hz - bh
    while y > -bh:
        cv.draw.line((0, y, w, y), fill=mortar, width=2)
        x = -(row % 2) * bw / 2
        while x < w:
            cv.draw.line((x, y, x, y + bh), fill=mortar, width=2)
            x += bw
        row, y = row + 1, y - bh
    _floor(cv, rng)
    cv.draw.rectangle((0, hz - 0.02 * cv.h, w, hz), fill=_hsv(0, 0, rng.uniform(0.2, 0.95)))


def _interior(cv: _Canvas, rng: np.random.Generator) -> None:
    hz, w, h = cv.horizon, cv.w, cv.h
    paint = _hsv(rng.random(), rng.uniform(0.05, 0.3), rng.uniform(0.7, 0.95))
    _paste_gradient(
        cv.image, (0, 0, w, hz), [(0, tuple(int(c * 0.85) for c in paint)), (hz, paint)]
    )
    frame = _hsv(0, 0, rng.uniform(0.85, 1.0)) if rng.random() < 0.6 else (90, 60, 40)
    for _ in range(int(rng.integers(1, 3))):  # windows
        ww, wh = rng.uniform(0.12, 0.25) * w, rng.uniform(0.2, 0.4) * h
        x0, y0 = rng.uniform(0, w - ww), rng.uniform(0.05 * h, max(0.06 * h, hz - wh - 0.1 * h))
        cv.draw.rectangle((x0, y0, x0 + ww, y0 + wh), fill=(170, 200, 235), outline=frame, width=8)
        cv.draw.line((x0 + ww / 2, y0, x0 + ww / 2, y0 + wh), fill=frame, width=6)
        cv.draw.line((x0, y0 + wh / 2, x0 + ww, y0 + wh / 2), fill=frame, width=6)
    _floor(cv, rng)
    cv.draw.rectangle((0, hz - 0.025 * h, w, hz), fill=frame)


def _studio(cv: _Canvas, rng: np.random.Generator) -> None:
    hz, w, h = cv.horizon, cv.w, cv.h
    tone = _hsv(rng.random(), rng.uniform(0, 0.4), rng.uniform(0.25, 0.9))
    dark = tuple(int(c * 0.7) for c in tone)
    light = tuple(min(255, int(c * 1.15) + 10) for c in tone)
    _paste_gradient(cv.image, (0, 0, w, hz), [(0, dark), (hz, light)])
    _paste_gradient(cv.image, (0, hz, w, h), [(hz, tone), (h, dark)])
    cv.draw.line((0, hz, w, hz), fill=tuple(int(c * 0.8) for c in tone), width=3)


def _clutter(cv: _Canvas, rng: np.random.Generator) -> None:
    hz, w, h = cv.horizon, cv.w, cv.h
    cv.draw.rectangle((0, 0, w, hz), fill=_hsv(rng.random(), rng.uniform(0, 0.25), 0.8))
    table = _hsv(rng.uniform(0.04, 0.12), rng.uniform(0.2, 0.6), rng.uniform(0.3, 0.7))
    cv.draw.rectangle((0, hz, w, h), fill=table)
    cv.draw.line((0, hz, w, hz), fill=tuple(int(c * 0.6) for c in table), width=4)
    shelves = [hz - f * h for f in rng.uniform(0.15, 0.45, int(rng.integers(1, 3)))]
    for y in shelves:
        cv.draw.rectangle((0, y, w, y + 0.012 * h), fill=(110, 80, 50))
    for base in [*shelves, *(hz + rng.uniform(0.02, 0.3, 6) * h)]:
        for _ in range(int(rng.integers(2, 5))):  # jars and boxes standing on it
            ow, oh = rng.uniform(0.02, 0.06) * w, rng.uniform(0.03, 0.1) * h
            x = rng.uniform(0, w - ow)
            if rng.random() < 0.5:
                cv.draw.rectangle((x, base - oh, x + ow, base), fill=_muted(rng))
            else:
                cv.draw.ellipse((x, base - oh, x + ow, base), fill=_muted(rng))


_BACKGROUND_PAINTERS = {
    "landscape": _landscape,
    "wall": _wall,
    "interior": _interior,
    "studio": _studio,
    "clutter": _clutter,
}


def _distractors(cv: _Canvas, rng: np.random.Generator) -> None:
    """Small muted things the habit ignores, away from the subject."""
    scene = cv.scene
    n = {"landscape": (2, 7), "wall": (0, 3), "interior": (1, 4), "studio": (0, 2)}.get(
        scene.background, (4, 9)
    )
    sx, sy = cv.xy(scene.subject_x, scene.subject_y)
    for _ in range(int(rng.integers(*n))):
        r = max(0.02 * min(scene.width, scene.height), rng.uniform(0.1, 0.45) * scene.subject_h / 2)
        for _try in range(6):
            wx = rng.uniform(-0.5, 0.5) * scene.width
            wy = rng.uniform(-0.5, 0.5) * scene.height
            x, y = cv.xy(wx, wy)
            if abs(x - sx) > r + 0.6 * scene.subject_h or abs(y - sy) > r + 0.6 * scene.subject_h:
                break
        else:
            continue
        colour = _muted(rng)
        kind = rng.integers(3)
        if kind == 0:
            cv.draw.ellipse((x - r, y - 0.6 * r, x + r, y + 0.6 * r), fill=colour)
        elif kind == 1:
            cv.draw.rectangle((x - r, y - r, x + 0.6 * r, y + r), fill=colour)
        else:
            cv.draw.polygon([(x - r, y + r), (x + r, y + r), (x, y - r)], fill=colour)


def _subject_colour(cv: _Canvas, rng: np.random.Generator) -> tuple[int, int, int]:
    """A saturated colour that stands out from what lies behind the subject."""
    scene = cv.scene
    x, y = cv.xy(scene.subject_x, scene.subject_y)
    r = scene.subject_h / 2
    patch = cv.image.crop((int(x - r), int(y - r), int(x + r) + 1, int(y + r) + 1))
    behind = np.asarray(patch, dtype=np.float64).reshape(-1, 3).mean(axis=0)
    best, best_gap = (255, 255, 255), -1.0
    hue = rng.random()
    for i in range(6):
        if rng.random() < 0.1:
            colour = (245, 245, 240) if rng.random() < 0.5 else (25, 25, 30)
        else:
            colour = _hsv(hue + i / 6, rng.uniform(0.75, 1.0), rng.uniform(0.75, 1.0))
        gap = float(np.linalg.norm(np.asarray(colour) - behind))
        if gap > 110:
            return colour
        if gap > best_gap:
            best, best_gap = colour, gap
    return best


def _person(cv: _Canvas, rng: np.random.Generator, colour: tuple[int, int, int]) -> None:
    scene, d = cv.scene, cv.draw
    x, y = cv.xy(scene.subject_x, scene.subject_y)
    h = scene.subject_h
    top, bottom = y - h / 2, y + h / 2
    head_r = 0.11 * h
    skin = tuple(int(c) for c in rng.choice([[240, 200, 170], [200, 150, 110], [120, 80, 55]]))
    legs = tuple(int(c) for c in rng.choice([[30, 30, 40], [60, 70, 110], [90, 80, 70]]))
    shoulder, waist, hip = top + 2.1 * head_r, y + 0.05 * h, y + 0.1 * h
    d.rectangle((x - 0.1 * h, hip - 0.02 * h, x - 0.02 * h, bottom), fill=legs)
    d.rectangle((x + 0.02 * h, hip - 0.02 * h, x + 0.1 * h, bottom), fill=legs)
    if rng.random() < 0.5:  # a coat or a dress, widening downwards
        spread = 0.2 * h
        d.polygon(
            [
                (x - 0.14 * h, shoulder),
                (x + 0.14 * h, shoulder),
                (x + spread, hip + 0.12 * h),
                (x - spread, hip + 0.12 * h),
            ],
            fill=colour,
        )
    else:
        d.rectangle((x - 0.14 * h, shoulder, x + 0.14 * h, waist + 0.06 * h), fill=colour)
    for side in (-1, 1):
        d.line(
            (x + side * 0.15 * h, shoulder + 0.02 * h, x + side * 0.2 * h, waist),
            fill=colour,
            width=max(2, int(0.06 * h)),
        )
    d.ellipse((x - head_r, top, x + head_r, top + 2 * head_r), fill=skin)
    d.pieslice((x - head_r, top, x + head_r, top + 2 * head_r), 180, 360, fill=(40, 30, 20))


def _flower(cv: _Canvas, rng: np.random.Generator, colour: tuple[int, int, int]) -> None:
    scene, d = cv.scene, cv.draw
    x, y = cv.xy(scene.subject_x, scene.subject_y)
    r = scene.subject_h / 2
    stem = (40, 120, 40)
    d.line(
        (x, y, x, y + r + rng.uniform(0.6, 1.4) * scene.subject_h),
        fill=stem,
        width=max(2, int(0.08 * r)),
    )
    d.ellipse((x, y + 1.3 * r, x + 0.8 * r, y + 1.6 * r), fill=stem)
    n = int(rng.integers(6, 10))
    phase = rng.uniform(0, 2 * math.pi)
    for i in range(n):
        a = phase + 2 * math.pi * i / n
        px, py = x + 0.6 * r * math.cos(a), y + 0.6 * r * math.sin(a)
        d.ellipse((px - 0.4 * r, py - 0.4 * r, px + 0.4 * r, py + 0.4 * r), fill=colour)
    heart = tuple(int(c) for c in rng.choice([[240, 200, 40], [110, 70, 30], [250, 240, 200]]))
    d.ellipse((x - 0.33 * r, y - 0.33 * r, x + 0.33 * r, y + 0.33 * r), fill=heart)


def _ball(cv: _Canvas, rng: np.random.Generator, colour: tuple[int, int, int]) -> None:
    scene, d = cv.scene, cv.draw
    x, y = cv.xy(scene.subject_x, scene.subject_y)
    r = scene.subject_h / 2
    d.ellipse((x - 1.1 * r, y + 0.8 * r, x + 1.1 * r, y + 1.15 * r), fill=(35, 35, 35))
    d.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    band = tuple(255 - c for c in colour) if rng.random() < 0.5 else (245, 245, 245)
    d.chord((x - r, y - r, x + r, y + r), 200, 340, fill=band)
    d.ellipse((x - 0.55 * r, y - 0.2 * r, x - 0.15 * r, y + 0.15 * r), fill=(250, 250, 250))


_SUBJECT_PAINTERS = {"person": _person, "flower": _flower, "ball": _ball}


def render(scene: Scene, rng: np.random.Generator) -> np.ndarray:
    """The display-frame photo of ``scene``: ``[H', W', 3]`` uint8."""
    cv = _Canvas(scene)
    _BACKGROUND_PAINTERS[scene.background](cv, rng)
    _distractors(cv, rng)
    _SUBJECT_PAINTERS[scene.subject](cv, rng, _subject_colour(cv, rng))
    # Coarse grain in the world (it turns with it), then the camera's tilt and frame.
    cell = int(rng.integers(4, 10))
    grain = rng.normal(0, rng.uniform(3, 9), (cv.h // cell + 1, cv.w // cell + 1))
    grain_img = Image.fromarray(np.clip(grain + 128, 0, 255).astype(np.uint8))
    grain_full = np.asarray(grain_img.resize((cv.w, cv.h), Image.Resampling.BILINEAR))
    world = np.asarray(cv.image, dtype=np.int16) + (grain_full.astype(np.int16) - 128)[..., None]
    world_img = Image.fromarray(np.clip(world, 0, 255).astype(np.uint8))
    turned = world_img.rotate(
        -scene.tilt_deg, resample=Image.Resampling.BICUBIC, center=(cv.ox, cv.oy)
    )
    x0, y0 = (cv.w - scene.width) // 2, (cv.h - scene.height) // 2
    photo = np.asarray(turned.crop((x0, y0, x0 + scene.width, y0 + scene.height)), np.int16)
    sensor = rng.integers(-3, 4, (scene.height, scene.width, 1), dtype=np.int16)
    return np.clip(photo + sensor, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- files


def develop_packet(rng: np.random.Generator, orientation: int | None) -> bytes:
    """A Lightroom-like sidecar with develop settings and no crop (``HasCrop`` False)."""
    tiff = f'\n   tiff:Orientation="{orientation}"' if orientation is not None else ""
    settings = {
        "crs:Version": "15.4",
        "crs:ProcessVersion": "11.0",
        "crs:WhiteBalance": "As Shot",
        "crs:Exposure2012": f"{rng.uniform(-1, 1):+.2f}",
        "crs:Contrast2012": f"{int(rng.integers(-30, 31)):+d}",
        "crs:Highlights2012": f"{int(rng.integers(-80, 1)):+d}",
        "crs:Shadows2012": f"{int(rng.integers(0, 60)):+d}",
        "crs:Vibrance": f"{int(rng.integers(0, 30)):+d}",
        "crs:HasSettings": "True",
        "crs:HasCrop": "False",
        "crs:AlreadyApplied": "False",
    }
    attrs = "".join(f'\n   {k}="{v}"' for k, v in settings.items())
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 7.0-c000">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about=""\n'
        '    xmlns:xmp="http://ns.adobe.com/xap/1.0/"\n'
        '    xmlns:tiff="http://ns.adobe.com/tiff/1.0/"\n'
        '    xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/"\n'
        '   xmp:CreatorTool="Adobe Photoshop Lightroom Classic 13.0"'
        f"{tiff}{attrs}/>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    ).encode()


def _to_stored(display: Image.Image, orientation: int) -> Image.Image:
    """The stored pixels that show as ``display`` under an EXIF orientation (1, 3, 6, 8)."""
    undo = {
        1: None,
        3: Image.Transpose.ROTATE_180,
        6: Image.Transpose.ROTATE_90,  # shown turned 90 cw, so stored turned 90 ccw
        8: Image.Transpose.ROTATE_270,
    }[orientation]
    return display if undo is None else display.transpose(undo)


def write_dng(path: Path, rgb: np.ndarray, orientation: int, xmp: bytes | None) -> None:
    """A 16-bit RGGB DNG of stored pixels ``rgb`` with ``rgb`` as its JPEG preview.

    The layout of benchmarks/decode.py's ``write_dng`` (pidng's IFD classes, the preview
    chained as IFD1), for any size, with an Orientation tag and optional XMP (tag 700).
    """
    from pidng.defs import CalibrationIlluminant, CFAPattern, DNGVersion
    from pidng.dng import DNG, Tag, dngIFD, dngTag

    height, width = rgb.shape[:2]
    raw = np.empty((height, width), "<u2")
    raw[0::2, 0::2] = rgb[0::2, 0::2, 0]
    raw[0::2, 1::2] = rgb[0::2, 1::2, 1]
    raw[1::2, 0::2] = rgb[1::2, 0::2, 1]
    raw[1::2, 1::2] = rgb[1::2, 1::2, 2]
    raw *= 200
    preview = io.BytesIO()
    Image.fromarray(rgb).save(preview, format="JPEG", quality=92)
    dng = DNG()
    dng.ImageDataStrips = [raw.tobytes(), preview.getvalue()]
    raw_offsets, preview_offsets = dngTag(Tag.TileOffsets, [0]), dngTag(Tag.StripOffsets, [0])
    raw_ifd, preview_ifd = dngIFD(), dngIFD()
    identity = [[1, 1], [0, 1], [0, 1], [0, 1], [1, 1], [0, 1], [0, 1], [0, 1], [1, 1]]
    raw_ifd.tags = [
        dngTag(Tag.NewSubfileType, [0]),
        dngTag(Tag.ImageWidth, [width]),
        dngTag(Tag.ImageLength, [height]),
        dngTag(Tag.TileWidth, [width]),
        dngTag(Tag.TileLength, [height]),
        raw_offsets,
        dngTag(Tag.TileByteCounts, [len(dng.ImageDataStrips[0])]),
        dngTag(Tag.Compression, [1]),
        dngTag(Tag.PhotometricInterpretation, [32803]),
        dngTag(Tag.SamplesPerPixel, [1]),
        dngTag(Tag.BitsPerSample, [16]),
        dngTag(Tag.CFARepeatPatternDim, [2, 2]),
        dngTag(Tag.CFAPattern, CFAPattern.RGGB),
        dngTag(Tag.BlackLevel, [0]),
        dngTag(Tag.WhiteLevel, [65535]),
        dngTag(Tag.Orientation, [orientation]),
        dngTag(Tag.Make, "CropperHead"),
        dngTag(Tag.Model, "Learning benchmark"),
        dngTag(Tag.DNGVersion, DNGVersion.V1_4),
        dngTag(Tag.DNGBackwardVersion, DNGVersion.V1_2),
        dngTag(Tag.ColorMatrix1, identity),
        dngTag(Tag.CalibrationIlluminant1, [CalibrationIlluminant.D65]),
        dngTag(Tag.AsShotNeutral, [[1, 1], [1, 1], [1, 1]]),
    ]
    if xmp is not None:
        raw_ifd.tags.append(dngTag(Tag.XMP_Metadata, list(xmp)))
    preview_ifd.tags = [
        dngTag(Tag.NewSubfileType, [1]),
        dngTag(Tag.ImageWidth, [width]),
        dngTag(Tag.ImageLength, [height]),
        dngTag(Tag.BitsPerSample, [8, 8, 8]),
        dngTag(Tag.Compression, [7]),
        dngTag(Tag.PhotometricInterpretation, [6]),
        dngTag(Tag.SamplesPerPixel, [3]),
        preview_offsets,
        dngTag(Tag.RowsPerStrip, [height]),
        dngTag(Tag.StripByteCounts, [len(dng.ImageDataStrips[1])]),
    ]
    dng.IFDs = [raw_ifd, preview_ifd]
    buf = bytearray(dng.dataLen())
    raw_offsets.setValue([dng.StripOffsets[0]])
    preview_offsets.setValue([dng.StripOffsets[1]])
    raw_ifd.NextIFDOffset = 8 + raw_ifd.dataLen()
    dng.setBuffer(buf)
    dng.write()
    path.write_bytes(bytes(buf))


def write_photo(
    folder: Path,
    stem: str,
    display: np.ndarray,
    crop: Crop | None,
    recipe: tuple[str, str, int],
    rng: np.random.Generator,
) -> Path:
    """Write one photo in a recipe's format with its crop (or none) in XMP.

    Args:
        folder: the library folder.
        stem: the file name without extension.
        display: the display-frame pixels.
        crop: the photographer's display-frame crop; None for reviewed and uncropped.
        recipe: ``(format, "sidecar" | "embedded", EXIF orientation)``.
        rng: for the develop settings.

    Returns:
        The photo's path.
    """
    fmt, where, orientation = recipe
    stored = _to_stored(Image.fromarray(display), orientation)
    sw, sh = stored.size
    # Lightroom writes tiff:Orientation into most sidecars; leave it out of some.
    packet = develop_packet(rng, orientation if rng.random() < 0.5 else None)
    if crop is not None:
        stored_crop = crop_display_to_stored(crop, sw, sh, orientation)
        base = packet if rng.random() < 0.7 else None  # some crop-only packets
        packet = merge_crop_into_xmp(base, stored_crop)
    path = folder / f"{stem}{_EXTENSION[fmt]}"
    embedded = packet if where == "embedded" else None
    exif = Image.Exif()
    exif[0x0112] = orientation
    if fmt == "jpeg":
        extra = {"xmp": embedded} if embedded is not None else {}
        stored.save(path, format="JPEG", quality=92, exif=exif, **extra)
    elif fmt == "tiff":
        info: dict[int, Any] = {0x0112: orientation}
        if embedded is not None:
            info[700] = embedded
        stored.save(path, format="TIFF", compression="tiff_deflate", tiffinfo=info)
    elif fmt == "png":
        png_info = PngInfo()
        if embedded is not None:
            png_info.add_itxt("XML:com.adobe.xmp", embedded.decode("utf-8"))
        stored.save(path, format="PNG", compress_level=1, exif=exif, pnginfo=png_info)
    elif fmt == "dng":
        write_dng(path, np.asarray(stored), orientation, embedded)
    else:
        raise ValueError(f"unknown format {fmt!r}")
    if where == "sidecar":
        path.with_suffix(".xmp").write_bytes(packet)
    return path


# --------------------------------------------------------------------------- libraries


def photo_rng(style: str, data_seed: int, part: str, index: int) -> np.random.Generator:
    """The generator of one photo: a function of style, data seed, part and index only."""
    return np.random.default_rng([_STYLE_CODE[style], data_seed, PARTS[part], index])


def make_photo(folder: Path, style: str, data_seed: int, part: str, index: int) -> dict[str, Any]:
    """Generate, render and write photo ``index`` of a library; return its truth record.

    The record: ``name``, ``width``/``height`` (display), ``crop`` (display-frame crop
    record, or the full frame for a photo left uncropped), ``uncropped``, ``format``,
    ``xmp``, ``orientation`` and ``scene`` (the parameters the crop came from).
    """
    rng = photo_rng(style, data_seed, part, index)
    fine = None
    if style == "sometimes":
        # Exactly one fine photo in each run of three, at a random place in it, so that a
        # library holds a third of them whatever its size.
        block = np.random.default_rng([_STYLE_CODE[style], data_seed, PARTS[part], index // 3, 2])
        fine = index % 3 == int(block.integers(3))
    scene = make_scene(style, rng, fine)
    crop = HABITS[style](scene, rng)
    display = render(scene, rng)
    # Where the recipe cycle starts: per library, so formats do not follow the index.
    offset = int(
        np.random.default_rng([_STYLE_CODE[style], data_seed, PARTS[part], 0, 1]).integers(
            len(RECIPES)
        )
    )
    recipe = RECIPES[(index + offset) % len(RECIPES)]
    path = write_photo(folder, f"IMG_{index + 1:04d}", display, crop, recipe, rng)
    return {
        "name": path.name,
        "width": scene.width,
        "height": scene.height,
        "crop": (crop or Crop.full_frame()).to_dict(),
        "uncropped": crop is None,
        "format": recipe[0],
        "xmp": recipe[1],
        "orientation": recipe[2],
        "scene": asdict(scene),
    }


def _make_photo_job(job: tuple[str, str, int, str, int]) -> dict[str, Any]:
    folder, style, data_seed, part, index = job
    return make_photo(Path(folder), style, data_seed, part, index)


def generate_library(
    folder: Path,
    style: str,
    n_photos: int,
    data_seed: int = 0,
    part: str = "train",
    workers: int = 1,
) -> Iterator[dict[str, Any]]:
    """Write a style's library into ``folder``, yielding each photo's truth record.

    The photos depend only on ``style``, ``data_seed``, ``part`` and their index, never
    on ``workers``. Records come in index order.

    Args:
        folder: where the photos and sidecars go (created).
        style: one of :data:`STYLES`.
        n_photos: how many photos.
        data_seed: the library's seed.
        part: ``train`` or ``test`` (a different stream of scenes).
        workers: processes (forked; 1 renders in this process).
    """
    if style not in HABITS:
        raise ValueError(f"unknown style {style!r}; known: {', '.join(STYLES)}")
    if part not in PARTS:
        raise ValueError(f"part must be train or test, got {part!r}")
    folder.mkdir(parents=True, exist_ok=True)
    jobs = [(str(folder), style, data_seed, part, i) for i in range(n_photos)]
    if workers <= 1 or n_photos < 8 or "fork" not in multiprocessing.get_all_start_methods():
        for job in jobs:
            yield _make_photo_job(job)
        return
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        yield from pool.imap(_make_photo_job, jobs, chunksize=4)


def write_truth(path: Path, records: list[dict[str, Any]]) -> None:
    """Write truth records as JSON lines (atomically)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in records))
    os.replace(tmp, path)


def read_truth(path: Path) -> list[dict[str, Any]]:
    """Read what :func:`write_truth` wrote."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
