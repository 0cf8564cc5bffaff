"""cropperhead.predict.lightroom: the values the Lightroom plug-in applies, and its input files."""

from __future__ import annotations

import json
import os

import pytest

from cropperhead.geometry import (
    ORIENTATIONS,
    Crop,
    crop_output_size_px,
    crop_stored_to_display,
    display_size,
    largest_crop,
)
from cropperhead.metadata.lrcat import LIGHTROOM_ORIENTATIONS
from cropperhead.predict.lightroom import (
    LIGHTROOM_CODES,
    lightroom_code,
    lightroom_values,
    read_orientations,
    read_photo_list,
)

# docs/lightroom-crop.md, "Known answers": stored frame, crs:Crop*, output size.
KNOWN = [
    ((6720, 4480), Crop(0.020308, 0.073108, 0.979692, 0.926892, -3.01), (6237.3, 4158.2)),
    ((6000, 4000), Crop(0.335184, 0.0, 0.664816, 1.0, 30.0), (3712.8, 2475.2)),
]
KEYS = ("CropLeft", "CropTop", "CropRight", "CropBottom", "CropAngle")


def stored_of(values: dict) -> Crop:
    return Crop(*(values[k] for k in KEYS))


def test_codes_are_the_catalog_readers():
    assert LIGHTROOM_CODES == {
        1: "AB",
        2: "BA",
        3: "CD",
        4: "DC",
        5: "AD",
        6: "BC",
        7: "CB",
        8: "DA",
    }
    assert all(LIGHTROOM_ORIENTATIONS[lightroom_code(o)] == o for o in ORIENTATIONS)


@pytest.mark.parametrize(("stored_size", "crop", "output"), KNOWN)
def test_known_answers_orientation_1(stored_size, crop, output):
    values = lightroom_values(crop, *stored_size, 1)
    assert values["orientation"] == "AB"
    assert [values[k] for k in KEYS] == pytest.approx(list(crop.as_array()), abs=1e-12)
    assert crop_output_size_px(stored_of(values), *stored_size) == pytest.approx(output, abs=0.1)


@pytest.mark.parametrize("orientation", ORIENTATIONS)
@pytest.mark.parametrize(("stored_size", "crop", "output"), KNOWN)
def test_known_answers_round_trip_every_orientation(orientation, stored_size, crop, output):
    # The photographer's crop as seen (display frame) must come back as the stored one.
    shown = crop_stored_to_display(crop, *stored_size, orientation)
    width, height = display_size(*stored_size, orientation)
    values = lightroom_values(shown, width, height, orientation)
    assert values["orientation"] == LIGHTROOM_CODES[orientation]
    assert [values[k] for k in KEYS] == pytest.approx(list(crop.as_array()), abs=2e-9)
    assert crop_output_size_px(stored_of(values), *stored_size) == pytest.approx(output, abs=0.1)


@pytest.mark.parametrize(
    ("orientation", "display", "stored"),
    [
        # 6000 x 4000 stored; worked by hand from the point maps of lightroom-crop.md.
        (1, (0.1, 0.2, 0.5, 0.9, 0.0), (0.1, 0.2, 0.5, 0.9, 0.0)),
        (2, (0.1, 0.2, 0.5, 0.9, 0.0), (0.5, 0.2, 0.9, 0.9, 0.0)),  # (W-x, y)
        (3, (0.1, 0.2, 0.5, 0.9, 0.0), (0.5, 0.1, 0.9, 0.8, 0.0)),  # (W-x, H-y)
        (4, (0.1, 0.2, 0.5, 0.9, 0.0), (0.1, 0.1, 0.5, 0.8, 0.0)),  # (x, H-y)
        (6, (0.1, 0.1, 0.8, 0.5, 0.0), (0.1, 0.2, 0.5, 0.9, 0.0)),  # (H-y, x), 4000 x 6000 shown
        (8, (0.2, 0.5, 0.9, 0.9, 0.0), (0.1, 0.2, 0.5, 0.9, 0.0)),  # (y, W-x)
        (5, (0.2, 0.1, 0.9, 0.5, 0.0), (0.1, 0.2, 0.5, 0.9, 0.0)),  # (y, x)
        (7, (0.1, 0.5, 0.8, 0.9, 0.0), (0.1, 0.2, 0.5, 0.9, 0.0)),  # (H-y, W-x)
    ],
)
def test_hand_worked_boxes(orientation, display, stored):
    width, height = display_size(6000, 4000, orientation)
    values = lightroom_values(Crop(*display), width, height, orientation)
    assert [values[k] for k in KEYS] == pytest.approx(list(stored), abs=1e-9)


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_mirrored_orientations_negate_the_angle(orientation):
    width, height = display_size(6000, 4000, orientation)
    crop = largest_crop(width, height, 1.5, 4.0)
    values = lightroom_values(crop, width, height, orientation)
    sign = -1 if orientation in (2, 4, 5, 7) else 1
    assert values["CropAngle"] == pytest.approx(sign * 4.0)


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_full_frame_is_exact(orientation):
    values = lightroom_values(Crop.full_frame(), 4000, 3000, orientation)
    assert {k: values[k] for k in KEYS} == {
        "CropLeft": 0.0,
        "CropTop": 0.0,
        "CropRight": 1.0,
        "CropBottom": 1.0,
        "CropAngle": 0.0,
    }
    assert all(str(values[k]) != "-0.0" for k in KEYS)


def test_values_are_clamped_and_rounded():
    values = lightroom_values(Crop(-5e-7, 0.123456789012, 1 + 5e-7, 1.0, 0.0), 100, 100, 1)
    assert values["CropLeft"] == 0.0
    assert values["CropRight"] == 1.0
    assert values["CropTop"] == 0.123456789


@pytest.mark.parametrize("orientation", [0, 9, True, "6", None])
def test_bad_orientation(orientation):
    with pytest.raises(ValueError, match="orientation"):
        lightroom_values(Crop.full_frame(), 10, 10, orientation)


def test_bad_size():
    with pytest.raises(ValueError, match="size"):
        lightroom_values(Crop.full_frame(), 0, 10, 1)


def test_read_orientations(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "a.jpg").write_bytes(b"")
    link = tmp_path / "link"
    link.symlink_to(real)
    path = tmp_path / "o.json"
    path.write_text(
        json.dumps({str(link / "a.jpg"): 6, str(tmp_path / "b é.jpg"): 8.0}), encoding="utf-8"
    )
    table = read_orientations(path)
    assert table == {real / "a.jpg": 6, tmp_path / "b é.jpg": 8}
    assert all(isinstance(v, int) for v in table.values())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"/a.jpg": 9}', "orientation must be 1..8"),
        ('{"/a.jpg": true}', "orientation must be 1..8"),
        ('{"/a.jpg": "6"}', "orientation must be 1..8"),
        ('["/a.jpg"]', "expected a JSON object"),
        ("{oops", "not JSON"),
    ],
)
def test_read_orientations_errors(tmp_path, content, message):
    path = tmp_path / "o.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        read_orientations(path)


def test_read_orientations_missing_file(tmp_path):
    with pytest.raises(ValueError, match="orientations"):
        read_orientations(tmp_path / "none.json")


def test_read_photo_list(tmp_path):
    path = tmp_path / "p.json"
    names = ["/a b/c'd.jpg", "C:\\x\\y.CR2", "/bad-\udcff.jpg"]
    with open(path, "w", encoding="utf-8", errors="surrogateescape") as handle:
        handle.write(json.dumps(names, ensure_ascii=False))
    assert read_photo_list(path) == names
    if os.name == "posix":
        assert os.fsencode(read_photo_list(path)[2]) == b"/bad-\xff.jpg"


@pytest.mark.parametrize("content", ['{"a": 1}', '["/a.jpg", 3]', '["  "]'])
def test_read_photo_list_errors(tmp_path, content):
    path = tmp_path / "p.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match="input_list"):
        read_photo_list(path)
