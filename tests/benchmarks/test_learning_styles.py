import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from cropperhead.geometry import Crop, crop_is_inside, crop_output_size_px, crop_to_frame
from cropperhead.scan import scan_library


def _in_crop(crop: Crop, width: int, height: int, x: float, y: float) -> tuple[float, float]:
    """Where display point (x, y) lies in the crop's output picture, as fractions (0..1)."""
    f = crop_to_frame(crop, width, height)
    t = math.radians(f.angle_deg)
    dx, dy = x - f.cx_px, y - f.cy_px
    u = dx * math.cos(t) + dy * math.sin(t)
    v = -dx * math.sin(t) + dy * math.cos(t)
    return 0.5 + u / (2 * f.half_width_px), 0.5 + v / (2 * f.half_height_px)


@pytest.mark.parametrize("style", ["thirds", "tight", "sky", "sometimes", "jitter"])
def test_scan_reads_back_exactly_the_intended_labels(styles, learning, tmp_path, style):
    n = len(styles.RECIPES)  # one photo of every format, XMP place and orientation
    library = tmp_path / "lib"
    records = list(styles.generate_library(library, style, n, data_seed=5, part="test"))
    assert {(r["format"], r["xmp"], r["orientation"]) for r in records} == set(styles.RECIPES)
    summary = scan_library(
        [library], tmp_path / "ds", size=128, include_uncropped=True, workers=1, progress=False
    )
    assert summary.skipped == 0
    rows = {
        Path(row["source"]).name: row
        for row in map(json.loads, (tmp_path / "ds" / "manifest.jsonl").read_text().splitlines())
    }
    assert sorted(rows) == sorted(r["name"] for r in records)
    for rec in records:
        row = rows[rec["name"]]
        assert (row["width"], row["height"]) == (rec["width"], rec["height"]), rec["name"]
        got, meant = Crop.from_dict(row["crop"]), Crop.from_dict(rec["crop"])
        np.testing.assert_allclose(got.as_array()[:4], meant.as_array()[:4], atol=1e-4)
        assert got.angle == pytest.approx(meant.angle, abs=1e-3), rec["name"]
        assert learning.label_error(row, rec) is None
        if rec["uncropped"]:
            assert got.is_full_frame()
    if style == "sometimes":
        assert any(r["uncropped"] for r in records)
        assert not all(r["uncropped"] for r in records)
    learning.check_scan(tmp_path / "ds", records, library)  # the benchmark's own guard


def test_libraries_depend_only_on_style_seed_part_and_index(styles):
    def scene(style, seed, part, index):
        rng = styles.photo_rng(style, seed, part, index)
        s = styles.make_scene(style, rng)
        return s, styles.HABITS[style](s, rng)

    assert scene("thirds", 0, "train", 3) == scene("thirds", 0, "train", 3)
    assert scene("thirds", 0, "train", 3) != scene("thirds", 0, "test", 3)
    assert scene("thirds", 0, "train", 3) != scene("thirds", 1, "train", 3)
    assert scene("thirds", 0, "train", 3)[0] != scene("tight", 0, "train", 3)[0]


def test_the_world_turns_the_way_the_crop_angle_says(styles):
    # A sea with a sharp horizon, camera tilted 5 degrees: 12 px above the horizon is the
    # pale sky and 12 px below the dark sea at both ends of the photo, where the turned
    # horizon lies about 25 px off its middle height. The mirrored turn would swap them.
    scene = styles.Scene(900, 600, 5.0, "landscape", "sea", 30.0, "ball", 250.0, 150.0, 60.0)
    img = styles.render(scene, np.random.default_rng(0)).astype(float)
    for x in (-360.0, 360.0):
        for side in (-1, 1):
            px, py = scene.world_to_display(x, scene.horizon_y + side * 12)
            above = img[round(py), round(px)].mean() > 150
            assert above == (side < 0), (x, side, img[round(py), round(px)])


def test_subject_is_drawn_where_the_truth_says(styles):
    scene = styles.Scene(800, 600, -4.0, "studio", "", 150.0, "ball", -200.0, -80.0, 120.0)
    img = styles.render(scene, np.random.default_rng(1)).astype(float)
    inside = img[tuple(round(v) for v in scene.world_to_display(-200, -80)[::-1])]
    outside = img[tuple(round(v) for v in scene.world_to_display(-200 + 90, -80)[::-1])]
    assert np.abs(inside - outside).max() > 40


def _scene(styles, **kw):
    base = styles.Scene(900, 600, 3.0, "wall", "", 120.0, "person", -100.0, -50.0, 100.0)
    return replace(base, **kw)


def test_thirds_puts_the_subject_on_the_nearest_third_and_levels(styles):
    scene = _scene(styles)
    crop = styles.crop_thirds(scene, np.random.default_rng(0))
    assert crop.angle == pytest.approx(3.0)
    w, h = crop_output_size_px(crop, 900, 600)
    assert w / h == pytest.approx(1.5)
    assert h == pytest.approx(3 * 100)
    fx, fy = _in_crop(crop, 900, 600, *scene.world_to_display(-100, -50))
    assert (fx, fy) == (pytest.approx(1 / 3), pytest.approx(1 / 3))  # upper left
    fx, fy = _in_crop(
        styles.crop_thirds(replace(scene, subject_x=80, subject_y=60), None),
        900,
        600,
        *scene.world_to_display(80, 60),
    )
    assert (fx, fy) == (pytest.approx(2 / 3), pytest.approx(2 / 3))  # lower right


@pytest.mark.parametrize(("subject", "aspect"), [("person", 0.8), ("flower", 1.0), ("ball", 1.0)])
def test_tight_is_centred_unturned_and_its_aspect_follows_the_subject(styles, subject, aspect):
    scene = _scene(styles, subject=subject, subject_h=120.0)
    crop = styles.crop_tight(scene, None)
    assert crop.angle == 0
    w, h = crop_output_size_px(crop, 900, 600)
    assert w / h == pytest.approx(aspect)
    assert 120 / h == pytest.approx(0.6)
    centre = _in_crop(crop, 900, 600, *scene.world_to_display(-100, -50))
    assert centre == (pytest.approx(0.5), pytest.approx(0.5))


def test_sky_keeps_the_horizon_on_the_lower_third(styles):
    scene = _scene(styles, background="landscape", variant="sea", horizon_y=60.0, subject_x=0)
    crop = styles.crop_sky(scene, None)
    w, h = crop_output_size_px(crop, 900, 600)
    assert w / h == pytest.approx(16 / 9)
    assert crop.angle == pytest.approx(3.0)
    _, fy = _in_crop(crop, 900, 600, *scene.world_to_display(0, 60))
    assert fy == pytest.approx(2 / 3)
    portrait = replace(scene, width=600, height=900)
    w, h = crop_output_size_px(styles.crop_sky(portrait, None), 600, 900)
    assert w / h == pytest.approx(600 / 900)


def test_sometimes_leaves_level_centred_photos_alone(styles):
    good = _scene(styles, tilt_deg=0.0, subject_x=10.0, subject_y=-8.0)
    assert styles.crop_sometimes(good, None) is None
    tilted = replace(good, tilt_deg=2.0)
    off = replace(good, subject_x=200.0)
    for scene in (tilted, off):
        crop = styles.crop_sometimes(scene, None)
        assert crop is not None
        assert crop.angle == pytest.approx(scene.tilt_deg)


def test_jitter_stays_near_its_golden_rule(styles):
    scene = _scene(styles)
    angles = [styles.crop_jitter(scene, np.random.default_rng(i)).angle for i in range(40)]
    assert 0.1 < np.std(angles) < 0.6
    assert np.mean(angles) == pytest.approx(3.0, abs=0.2)


def test_crops_that_would_leave_the_photo_are_moved_inside(styles):
    crop = styles.fit_crop(900, 600, 10.0, 590.0, 300.0, 200.0, 4.0)
    assert crop_is_inside(crop, 900, 600)
    w, h = crop_output_size_px(crop, 900, 600)
    assert w / h == pytest.approx(1.5)
    big = styles.fit_crop(900, 600, 450.0, 300.0, 900.0, 600.0, 4.0)
    assert crop_is_inside(big, 900, 600)
