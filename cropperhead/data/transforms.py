"""Label-exact transforms: every geometric step moves the crop with the pixels.

Each transform takes and returns ``(image, crop)`` where ``image`` is an ``H x W x 3``
uint8 array of the whole photo (display frame) and ``crop`` its display-frame
:class:`~cropperhead.geometry.Crop`. Geometric steps run in albumentations with the
crop's four corners as keypoints (``remove_invisible`` off) and the crop is rebuilt from
them with ``geometry.corners_to_crop``: a horizontal flip mirrors x, swaps the corner
names and negates the angle; a box-safe random crop of the photo keeps the whole crop
inside and shifts it. Photometric steps (colour, exposure, blur, noise) leave the label
alone. Letterboxing to the network's square input comes last and does not change the
label, which stays in fractions of the photo.

Named presets (``data.augment``): ``none`` (evaluation), ``light`` (flip + colour),
``default`` (flip + colour + blur/noise), ``strong`` (default + box-safe crops of any
aspect). Two more geometric steps go with any preset but ``none``:

- *zoom* (``max_zoom`` > 1): a window of the photo's own aspect that holds the whole
  crop becomes the photo, so the subject moves in the frame and a network cannot learn
  a position by heart;
- *turn* (``max_turn`` > 0 degrees): the photo turns by a small angle about its centre
  (edges filled by reflection) and the crop turns with it, its angle changing by the
  same amount, so a photographer who levels horizons gives many more angles to learn
  from. Only label-exact for a photographer whose crop angle follows the picture.
"""

from __future__ import annotations

import logging
import math
import os
import random
from dataclasses import dataclass

# albumentations asks PyPI for a newer version when imported: a network call (and a
# warning on stderr) on every start, and offline machines have no network. Opt out.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import albumentations as A  # noqa: E402, N812
import cv2  # noqa: E402
import numpy as np  # noqa: E402

from cropperhead.geometry import Crop, crop_is_inside, crop_to_corners  # noqa: E402

log = logging.getLogger(__name__)

PRESETS = ("none", "light", "default", "strong")
#: Probability of each of the zoom and the turn, when on.
GEOMETRIC_P = 0.5
#: ImageNet statistics (the backbones' pretraining).
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
#: Letterbox padding: the mean colour, i.e. zero after normalisation.
PAD_RGB = tuple(int(round(255 * m)) for m in MEAN)


@dataclass(frozen=True)
class PhotoScale:
    """Display pixels per image pixel along x and y (the scanned image is downscaled)."""

    x: float
    y: float


class CropAugment:
    """A named augmentation preset applied to ``(image, crop)``.

    Args:
        preset: one of :data:`PRESETS`.
        hflip_p: probability of a horizontal flip.
        safe_crop_p: probability of a box-safe random crop (``strong`` only).
        seed: seed of albumentations' random state (None: fresh entropy per process).
        max_zoom: largest zoom factor (the window's side is at least ``1 / max_zoom`` of
            the photo's); 1: no zoom.
        max_turn: largest turn in degrees; 0: no turn.
    """

    def __init__(
        self,
        preset: str = "default",
        hflip_p: float = 0.5,
        safe_crop_p: float = 0.5,
        seed: int | None = None,
        max_zoom: float = 1.0,
        max_turn: float = 0.0,
    ):
        if preset not in PRESETS:
            raise ValueError(f"augment preset must be one of {', '.join(PRESETS)}, got {preset!r}")
        if not max_zoom >= 1:
            raise ValueError(f"max_zoom must be >= 1, got {max_zoom!r}")
        if not 0 <= max_turn <= 15:
            raise ValueError(f"max_turn must lie in [0, 15] degrees, got {max_turn!r}")
        self.preset = preset
        on = preset != "none"
        self.zoom_p = GEOMETRIC_P if on and max_zoom > 1 else 0.0
        self.turn_p = GEOMETRIC_P if on and max_turn > 0 else 0.0
        self.max_zoom = float(max_zoom)
        self.max_turn = float(max_turn)
        # Python's generator, which Lightning seeds per loader worker (seed_everything).
        self._rng = random.Random(seed) if seed is not None else random
        geometric: list[A.BasicTransform] = []
        photometric: list[A.BasicTransform] = []
        if preset != "none":
            geometric.append(A.HorizontalFlip(p=hflip_p))
            photometric.append(
                A.ColorJitter(brightness=0.25, contrast=0.25, saturation=0.25, hue=0.03, p=0.8)
            )
        if preset in ("default", "strong"):
            photometric.append(
                A.OneOf(
                    [A.GaussianBlur(blur_limit=(3, 5)), A.GaussNoise(std_range=(0.02, 0.06))],
                    p=0.3,
                )
            )
        if preset == "strong":
            geometric.append(A.BBoxSafeRandomCrop(erosion_rate=0.0, p=safe_crop_p))
        self.geometric = (
            A.Compose(
                geometric,
                keypoint_params=A.KeypointParams(format="xy", remove_invisible=False),
                bbox_params=A.BboxParams(format="pascal_voc", label_fields=["bbox_labels"]),
                seed=seed,
            )
            if geometric
            else None
        )
        self.photometric = A.Compose(photometric, seed=seed) if photometric else None

    def __call__(
        self, image: np.ndarray, crop: Crop, scale: PhotoScale
    ) -> tuple[np.ndarray, Crop, PhotoScale]:
        """Augment one photo and its crop.

        Args:
            image: ``H x W x 3`` uint8 photo, display frame.
            crop: its display-frame crop.
            scale: display pixels per image pixel (so turned corners keep true angles).

        Returns:
            The augmented image, its crop, and the (unchanged) scale.
        """
        if self.turn_p and self._random() < self.turn_p:
            image, crop = self._turn(image, crop, scale)
        if self.zoom_p and self._random() < self.zoom_p:
            image, crop = self._zoom(image, crop, scale)
        if self.geometric is not None:
            image, crop = self._geometric(image, crop, scale)
        if self.photometric is not None:
            image = self.photometric(image=image)["image"]
        return image, crop, scale

    def _random(self) -> float:
        return self._rng.random()

    def _turn(self, image: np.ndarray, crop: Crop, scale: PhotoScale) -> tuple[np.ndarray, Crop]:
        """Turn the photo about its centre by up to ``max_turn`` degrees, and the crop with it.

        The new crop's corners are the old ones under the same rotation (in display
        pixels, so angles are true), and its angle is the old one plus the turn. A turn
        that would take the crop (or the angle) out of bounds is not made.
        """
        h, w = image.shape[:2]
        delta = (2 * self._random() - 1) * self.max_turn
        if abs(crop.angle + delta) >= 44:
            return image, crop
        # cv2 turns counter-clockwise for a positive angle (y down); the crop's angle is
        # clockwise-positive, so the picture turns by -delta to add delta to the angle.
        matrix = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), -delta, 1.0)
        turned = cv2.warpAffine(
            image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
        )
        width_px, height_px = w * scale.x, h * scale.y
        corners = crop_to_corners(crop, width_px, height_px) / (scale.x, scale.y) - 0.5
        moved = corners @ matrix[:, :2].T + matrix[:, 2]
        moved = (moved + 0.5) * (scale.x, scale.y)
        tl, br = moved[0], moved[2]
        try:
            new = Crop(
                tl[0] / width_px,
                tl[1] / height_px,
                br[0] / width_px,
                br[1] / height_px,
                crop.angle + delta,
            )
        except ValueError:
            return image, crop
        if not crop_is_inside(new, width_px, height_px, tol_px=1e-3):
            return image, crop
        return turned, new

    def _zoom(self, image: np.ndarray, crop: Crop, scale: PhotoScale) -> tuple[np.ndarray, Crop]:
        """A window of the photo's aspect that holds the whole crop, as the new photo.

        The crop moves with the pixels (a shift, exact), its angle stays; when no window
        smaller than the photo holds the crop, the photo stays as it is.
        """
        h, w = image.shape[:2]
        corners = crop_to_corners(crop, w * scale.x, h * scale.y) / (scale.x, scale.y)
        lo, hi = corners.min(0), corners.max(0)
        need = max((hi[0] - lo[0]) / w, (hi[1] - lo[1]) / h)
        smallest = max(1 / self.max_zoom, need)
        if smallest >= 1:
            return image, crop
        side = smallest + (1 - smallest) * self._random()
        nw, nh = int(round(side * w)), int(round(side * h))
        # Whole pixels: the window starts left of the crop and ends right of it.
        x_lo, x_hi = max(0, math.ceil(hi[0] - nw)), min(int(math.floor(lo[0])), w - nw)
        y_lo, y_hi = max(0, math.ceil(hi[1] - nh)), min(int(math.floor(lo[1])), h - nh)
        if x_lo > x_hi or y_lo > y_hi or nw < 2 or nh < 2:
            return image, crop
        x0 = x_lo + int(self._random() * (x_hi - x_lo + 1))
        y0 = y_lo + int(self._random() * (y_hi - y_lo + 1))
        x0, y0 = min(x0, x_hi), min(y0, y_hi)
        window = np.ascontiguousarray(image[y0 : y0 + nh, x0 : x0 + nw])
        tl, br = corners[0] - (x0, y0), corners[2] - (x0, y0)
        try:
            moved = Crop(tl[0] / nw, tl[1] / nh, br[0] / nw, br[1] / nh, crop.angle)
        except ValueError:
            return image, crop
        if not crop_is_inside(moved, nw * scale.x, nh * scale.y, tol_px=1e-3):
            return image, crop
        return window, moved

    def _geometric(
        self, image: np.ndarray, crop: Crop, scale: PhotoScale
    ) -> tuple[np.ndarray, Crop]:
        h, w = image.shape[:2]
        # Corners in display pixels, then image pixels; albumentations' keypoints use the
        # pixel-index convention (centre of pixel 0 at 0), ours the continuous one.
        corners = crop_to_corners(crop, w * scale.x, h * scale.y) / (scale.x, scale.y)
        lo = np.clip(corners.min(0), 0, (w, h))
        hi = np.clip(corners.max(0), 0, (w, h))
        bbox = [
            float(lo[0]),
            float(lo[1]),
            float(max(hi[0], lo[0] + 1e-3)),
            float(max(hi[1], lo[1] + 1e-3)),
        ]
        out = self.geometric(image=image, keypoints=corners - 0.5, bboxes=[bbox], bbox_labels=[0])
        new_image = out["image"]
        nh, nw = new_image.shape[:2]
        pts = np.asarray(out["keypoints"], dtype=np.float64)[:, :2] + 0.5
        # A mirror reverses the corners' winding: rename them as seen in the new picture.
        e1, e2 = pts[1] - pts[0], pts[3] - pts[0]
        mirrored = e1[0] * e2[1] - e1[1] * e2[0] < 0
        if mirrored:
            pts = pts[[1, 0, 3, 2]]
        width_px, height_px = nw * scale.x, nh * scale.y
        # Flips and crops only negate or keep the angle: take it exactly, not from float32
        # keypoints; the corners give the edges.
        angle = -crop.angle if mirrored else crop.angle
        tl, br = pts[0] * (scale.x, scale.y), pts[2] * (scale.x, scale.y)
        try:
            new_crop = Crop(
                tl[0] / width_px, tl[1] / height_px, br[0] / width_px, br[1] / height_px, angle
            )
        except ValueError:
            new_crop = None
        if new_crop is None or not crop_is_inside(new_crop, width_px, height_px, tol_px=1e-3):
            # Integer rounding in a random crop can shave the label's bounding box; keep
            # the photo as it was rather than train on a wrong label.
            log.debug("geometric augmentation dropped: the crop left the photo")
            return image, crop
        return new_image, new_crop


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Fit a photo into a ``size x size`` canvas, aspect kept, centred, mean-colour padding.

    Args:
        image: ``H x W x 3`` uint8.
        size: canvas side in pixels.

    Returns:
        ``(canvas, (x0, y0, w, h))``: the ``size x size x 3`` uint8 canvas and where the
        photo lies on it.
    """
    h, w = image.shape[:2]
    factor = size / max(h, w)
    nw, nh = max(1, round(w * factor)), max(1, round(h * factor))
    interp = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (nw, nh), interpolation=interp)
    canvas = np.empty((size, size, 3), dtype=np.uint8)
    canvas[:] = PAD_RGB
    x0, y0 = (size - nw) // 2, (size - nh) // 2
    canvas[y0 : y0 + nh, x0 : x0 + nw] = resized
    return canvas, (x0, y0, nw, nh)
