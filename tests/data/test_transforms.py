"""Augmentations move the label with the pixels: checked by drawing the crop."""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from cropperhead.data.transforms import PRESETS, CropAugment, PhotoScale, letterbox
from cropperhead.geometry import Crop, crop_is_inside, crop_to_corners


def _marks(corners: np.ndarray) -> np.ndarray:
    """Points a fifth of the way from each corner to the centre (always inside the crop)."""
    return corners + 0.2 * (corners.mean(0) - corners)


def _photo_with_drawn_crop(crop: Crop, w: int = 120, h: int = 80) -> np.ndarray:
    """A photo with the crop's four corner marks painted in four distinct colours."""
    img = Image.new("RGB", (w, h), (0, 0, 0))
    draw = ImageDraw.Draw(img)
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
    for (x, y), colour in zip(_marks(crop_to_corners(crop, w, h)), colours, strict=True):
        draw.ellipse((x - 3, y - 3, x + 3, y + 3), fill=colour)
    return np.asarray(img)


def _colour_centroid(image: np.ndarray, colour) -> np.ndarray:
    mask = np.all(np.abs(image.astype(int) - colour) < 60, axis=-1)
    ys, xs = np.nonzero(mask)
    return np.array([xs.mean() + 0.5, ys.mean() + 0.5])


def test_flip_and_safe_crop_keep_the_label_on_the_drawn_corners():
    crop = Crop(0.25, 0.2, 0.75, 0.8, 8.0)
    image = _photo_with_drawn_crop(crop)
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
    seen = set()
    for seed in range(10):
        aug = CropAugment("strong", hflip_p=0.5, safe_crop_p=0.9, seed=seed)
        aug.photometric = None  # keep colours exact for the check
        out, new_crop, _ = aug(image, crop, PhotoScale(1.0, 1.0))
        h, w = out.shape[:2]
        assert crop_is_inside(new_crop, w, h, tol_px=1e-3)
        corners = _marks(crop_to_corners(new_crop, w, h))
        # Whatever happened (flip, crop), each painted corner sits where the label says,
        # the names following the picture: after a mirror, the red dot (old TL) is the TR.
        flipped = new_crop.angle < 0
        seen.add((flipped, out.shape != image.shape))
        order = [1, 0, 3, 2] if flipped else [0, 1, 2, 3]
        for i, k in enumerate(order):
            assert np.allclose(_colour_centroid(out, colours[k]), corners[i], atol=1.0)
        assert abs(new_crop.angle) == pytest.approx(8.0, abs=1e-9)
    # The seeds exercised flips and crops, with and without each other.
    assert {f for f, _ in seen} == {True, False}
    assert True in {c for _, c in seen}


def test_flip_twice_is_identity():
    crop = Crop(0.1, 0.15, 0.7, 0.9, -5.0)
    image = _photo_with_drawn_crop(crop)
    aug = CropAugment("light", hflip_p=1.0)
    aug.photometric = None
    once, c1, s = aug(image, crop, PhotoScale(2.0, 2.0))
    twice, c2, _ = aug(once, c1, s)
    assert c1.angle == pytest.approx(5.0)
    assert np.array_equal(twice, image)
    assert c2.as_array() == pytest.approx(crop.as_array(), abs=1e-6)


def test_flip_mirrors_the_record_exactly():
    crop = Crop(0.1, 0.2, 0.6, 0.9, 0.0)
    aug = CropAugment("light", hflip_p=1.0)
    aug.photometric = None
    _, flipped, _ = aug(np.zeros((50, 100, 3), np.uint8), crop, PhotoScale(1, 1))
    assert flipped.to_dict() == pytest.approx(
        {"left": 0.4, "top": 0.2, "right": 0.9, "bottom": 0.9, "angle": 0.0}
    )


def test_anisotropic_scale_keeps_true_angles():
    # The scanned image is 1000 x 666 of a 6000 x 4000 photo: x and y scales differ a
    # little; the rebuilt crop keeps the angle exactly.
    crop = Crop(0.2, 0.1, 0.8, 0.9, 10.0)
    aug = CropAugment("light", hflip_p=1.0)
    aug.photometric = None
    _, flipped, _ = aug(np.zeros((666, 1000, 3), np.uint8), crop, PhotoScale(6.0, 4000 / 666))
    assert flipped.angle == pytest.approx(-10.0, abs=1e-9)


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_runs_and_photometric_never_moves_the_label(preset):
    crop = Crop(0.2, 0.2, 0.8, 0.8, 0.0)
    aug = CropAugment(preset, hflip_p=0.0, safe_crop_p=0.0)
    out, new_crop, _ = aug(np.full((40, 60, 3), 128, np.uint8), crop, PhotoScale(1, 1))
    assert out.shape == (40, 60, 3)
    assert new_crop == crop


def test_unknown_preset():
    with pytest.raises(ValueError, match="'wild'"):
        CropAugment("wild")


def test_letterbox_centres_and_reports_the_box():
    canvas, box = letterbox(np.full((50, 100, 3), 255, np.uint8), 64)
    assert canvas.shape == (64, 64, 3)
    assert box == (0, 16, 64, 32)
    assert (canvas[16:48] == 255).all()
    assert (canvas[:16] != 255).all()


def test_zoom_keeps_the_photo_aspect_and_the_label_on_the_drawn_corners():
    crop = Crop(0.3, 0.25, 0.7, 0.75, 6.0)
    image = _photo_with_drawn_crop(crop)
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
    zoomed = 0
    for seed in range(12):
        aug = CropAugment("default", hflip_p=0.0, max_zoom=1.6, seed=seed)
        aug.zoom_p = 1.0
        aug.photometric = None
        out, new_crop, _ = aug(image, crop, PhotoScale(1.0, 1.0))
        h, w = out.shape[:2]
        zoomed += out.shape != image.shape
        assert w / h == pytest.approx(image.shape[1] / image.shape[0], rel=0.01)
        assert crop_is_inside(new_crop, w, h, tol_px=1e-3)
        corners = _marks(crop_to_corners(new_crop, w, h))
        for i in range(4):
            assert np.allclose(_colour_centroid(out, colours[i]), corners[i], atol=1.0)
        assert new_crop.angle == 6.0
    assert zoomed >= 8


def test_zoom_leaves_a_photo_whose_crop_fills_it():
    crop = Crop(0.0, 0.0, 1.0, 1.0, 0.0)
    image = _photo_with_drawn_crop(Crop(0.2, 0.2, 0.8, 0.8, 0.0))
    aug = CropAugment("default", max_zoom=1.3, hflip_p=0.0, seed=0)
    aug.zoom_p = 1.0
    out, new_crop, _ = aug(image, crop, PhotoScale(1.0, 1.0))
    assert out.shape == image.shape
    assert new_crop == crop


def test_turn_moves_the_label_with_the_pixels():
    crop = Crop(0.3, 0.3, 0.7, 0.7, 2.0)
    image = _photo_with_drawn_crop(crop)
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
    angles = set()
    for seed in range(8):
        aug = CropAugment("default", hflip_p=0.0, max_turn=4.0, seed=seed)
        aug.photometric = None
        aug.turn_p = 1.0
        out, new_crop, _ = aug(image, crop, PhotoScale(1.0, 1.0))
        h, w = out.shape[:2]
        assert out.shape == image.shape
        assert crop_is_inside(new_crop, w, h, tol_px=1e-3)
        assert abs(new_crop.angle - crop.angle) <= 4.0
        angles.add(round(new_crop.angle, 3))
        corners = _marks(crop_to_corners(new_crop, w, h))
        for i in range(4):
            assert np.allclose(_colour_centroid(out, colours[i]), corners[i], atol=1.5)
    assert len(angles) == 8


def test_geometric_steps_are_off_by_default_and_for_evaluation():
    assert CropAugment("default").zoom_p == 0.0
    assert CropAugment("default").turn_p == 0.0
    assert CropAugment("none", max_zoom=2.0, max_turn=3.0).turn_p == 0.0
    with pytest.raises(ValueError, match="max_turn"):
        CropAugment("default", max_turn=30)
