import numpy as np
import pytest
from PIL import Image

from cropperhead.data.manifest import read_manifest
from cropperhead.geometry import Crop, CropFrame, frame_to_crop
from cropperhead.report.stats import crop_stats, plot_stats, snap_aspect


@pytest.mark.parametrize(
    ("aspect", "name"),
    [
        (1.0, "1:1"),
        (1.5, "3:2"),
        (2 / 3, "2:3"),
        (0.8, "4:5"),
        (1.25, "5:4"),
        (16 / 9, "16:9"),
        (9 / 16, "9:16"),
        (1.6, "16:10"),
        (1.505, "3:2"),
        (1.2, "other"),
    ],
)
def test_snap_aspect(aspect, name):
    assert snap_aspect(aspect) == name


def test_known_measures(known):
    stats = crop_stats(read_manifest(known["dataset"]))
    # a: left half of 200x100; b: 40x40 square turned 20 deg in 100x100;
    # c: top and bottom halves of 100x200; d: 60x60 in 100x100. All output squares.
    assert stats.count == 5
    assert stats.photos == 4
    np.testing.assert_allclose(stats.angle_deg, [0, 20, 0, 0, 0], atol=1e-9)
    np.testing.assert_allclose(stats.aspect, 1.0, atol=1e-9)
    np.testing.assert_allclose(stats.scale, [0.5, 0.16, 0.5, 0.5, 0.36], atol=1e-9)
    np.testing.assert_allclose(stats.centre_x, [0.25, 0.5, 0.5, 0.5, 0.5], atol=1e-9)
    np.testing.assert_allclose(stats.centre_y, [0.5, 0.5, 0.25, 0.75, 0.5], atol=1e-9)
    assert stats.turned_share == pytest.approx(0.2)
    assert stats.same_aspect_share == pytest.approx(0.4)  # the two square photos
    assert stats.aspect_shares() == [("1:1", 1.0)]
    q = stats.quantiles()
    assert q["scale"]["median"] == pytest.approx(0.5)
    assert q["scale"]["q25"] == pytest.approx(0.36)
    assert stats.origins == {"xmp-sidecar": 5}
    text = stats.format()
    assert "5 crop(s) of 4 photo(s) (origins: xmp-sidecar 5)" in text
    assert "turned (|angle| > 0.1 deg): 20%" in text
    assert "aspect ratios: 1:1 100%" in text


def test_turned_crop_aspect_is_the_output_picture():
    # A 3:2 picture turned 10 degrees on a 600 x 400 photo.
    crop = frame_to_crop(CropFrame(300, 200, 120, 80, 10.0), 600, 400)
    rows = [
        {"source": "/p.jpg", "width": 600, "height": 400, "crop": crop, "origin": "lrcat"},
        {"source": "/q.jpg", "width": 600, "height": 400, "crop": Crop.full_frame().to_dict()},
    ]
    stats = crop_stats(rows)
    np.testing.assert_allclose(stats.aspect, [1.5, 1.5])
    np.testing.assert_allclose(stats.scale, [240 * 160 / (600 * 400), 1.0])
    assert stats.same_aspect_share == 1.0
    assert dict(stats.aspect_shares()) == {"3:2": 1.0}
    assert stats.origins == {"lrcat": 1, "": 1}
    assert stats.to_dict()["aspects"] == {"3:2": 1.0}


def test_no_samples():
    with pytest.raises(ValueError, match="no samples"):
        crop_stats([])


def test_plot_writes_one_png(known, tmp_path):
    stats = crop_stats(read_manifest(known["dataset"]))
    out = plot_stats(stats, tmp_path / "sub" / "stats.png")
    with Image.open(out) as im:
        assert im.format == "PNG"
        assert im.size == (1100, 850)
        assert np.asarray(im.convert("L")).std() > 10  # something was drawn


def test_plot_replaces_only_its_own_pictures(known, tmp_path):
    from cropperhead.report.predictions import ReportError
    from cropperhead.report.stats import dataset_stats
    from tests.helpers import assert_untouched, plant_user_files

    planted = plant_user_files(tmp_path / "out", ["holiday.png", "notes.txt", "library/a.jpg"])
    Image.new("RGB", (4, 4)).save(tmp_path / "out" / "holiday.png")
    planted[tmp_path / "out" / "holiday.png"] = (tmp_path / "out" / "holiday.png").read_bytes()
    for name in ("holiday.png", "notes.txt"):
        with pytest.raises(ReportError, match="not a stats picture CropperHead wrote"):
            dataset_stats(known["dataset"], tmp_path / "out" / name)
    assert_untouched(planted)
    ours = tmp_path / "out" / "stats.png"
    dataset_stats(known["dataset"], ours)
    dataset_stats(known["dataset"], ours)  # its own picture is replaced
    dataset_stats(known["dataset"], tmp_path / "out" / "notes.txt", overwrite=True)
    with Image.open(tmp_path / "out" / "notes.txt") as im:
        assert im.format == "PNG"
