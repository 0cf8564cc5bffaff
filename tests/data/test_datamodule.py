import json

import pytest
import torch

from cropperhead.data import CropDataModule, DatasetError, read_manifest
from cropperhead.data.datamodule import split_samples
from cropperhead.data.manifest import Sample, usual_crop
from cropperhead.geometry import Crop


def _samples(n: int, copies: int = 1) -> list[Sample]:
    return [
        Sample(
            image=f"/x/{i}_{c}.jpg",
            source=f"/photos/{i}.cr2",
            width=60,
            height=40,
            crop=Crop.full_frame(),
        )
        for i in range(n)
        for c in range(copies)
    ]


def test_split_is_deterministic_keyed_on_source_and_keeps_copies_together():
    samples = _samples(300, copies=2)
    a = split_samples(samples, 42, 0.2, 0.1)
    b = split_samples(list(reversed(samples)), 42, 0.2, 0.1)
    for split in ("train", "val", "test"):
        assert {s.image for s in a[split]} == {s.image for s in b[split]}
    where = {}
    for split, rows in a.items():
        for s in rows:
            assert where.setdefault(s.source, split) == split
    assert 0.12 < len(a["val"]) / 600 < 0.28
    assert 0.04 < len(a["test"]) / 600 < 0.16
    # Growing the library keeps every earlier photo in its split.
    grown = split_samples(samples + _samples(400)[300:], 42, 0.2, 0.1)
    assert {s.image for s in a["val"]} <= {s.image for s in grown["val"]}
    assert split_samples(samples, 7, 0.2, 0.1)["val"] != a["val"]


def test_tiny_library_still_gets_a_validation_photo():
    splits = split_samples(_samples(2), 0, 0.01, 0.0)
    assert len(splits["val"]) == 1
    assert len(splits["train"]) == 1


def test_bad_fractions():
    with pytest.raises(ValueError, match="0.7"):
        split_samples(_samples(3), 0, 0.7, 0.5)


def test_usual_crop_is_the_median_of_each_coordinate():
    rows = [
        Sample("a", "a", 1, 1, Crop(0.1, 0.2, 0.9, 0.8, 1.0)),
        Sample("b", "b", 1, 1, Crop(0.2, 0.0, 1.0, 0.9, -3.0)),
        Sample("c", "c", 1, 1, Crop(0.0, 0.1, 0.7, 1.0, 2.0)),
    ]
    assert usual_crop(rows) == pytest.approx((0.1, 0.1, 0.9, 0.9, 1.0))


def test_missing_or_empty_data_set_says_to_scan(tmp_path):
    with pytest.raises(DatasetError, match="cropperhead scan"):
        read_manifest(tmp_path / "nowhere")
    (tmp_path / "manifest.jsonl").write_text("\n")
    with pytest.raises(DatasetError, match="no samples.*cropperhead scan"):
        read_manifest(tmp_path)
    with pytest.raises(DatasetError, match="data.root"):
        CropDataModule(root=None)


def test_malformed_line_names_the_line(tmp_path):
    good = {
        "image": "i.jpg",
        "source": "/s",
        "width": 4,
        "height": 3,
        "crop": Crop.full_frame().to_dict(),
    }
    bad = dict(good, crop={"left": 0, "top": 0, "right": 2, "bottom": 1})
    (tmp_path / "manifest.jsonl").write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(DatasetError, match=r"manifest.jsonl:2"):
        read_manifest(tmp_path)


def test_batches_have_the_documented_shapes(tiny_dataset):
    dm = CropDataModule(str(tiny_dataset), image_size=64, batch_size=4, num_workers=0)
    dm.setup("fit")
    assert dm.usual_crop is not None
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape == (4, 3, 64, 64)
    assert batch["crop"].shape == (4, 5)
    assert batch["aspect"].shape == (4,)
    assert batch["content_box"].shape == (4, 4)
    val = next(iter(dm.val_dataloader()))
    # Without augmentation the label is the manifest's, and the aspect is W'/H'.
    rows = {str(s.image): s for s in dm.splits["val"]}
    first = list(rows.values())[0]
    assert torch.allclose(val["crop"][0], torch.tensor(first.crop.as_array(), dtype=torch.float32))
    assert val["aspect"][0].item() == pytest.approx(first.width / first.height)


@pytest.mark.parametrize(
    "image", ["/etc/passwd", "../outside.jpg", "images/../../outside.jpg", "link/x.jpg", ""]
)
def test_manifest_images_must_lie_inside_the_data_set(tmp_path, image):
    from tests.helpers import make_tiny_dataset

    root = make_tiny_dataset(tmp_path / "ds", n=3)
    (tmp_path / "outside.jpg").write_bytes((root / "images" / "tiny_000.jpg").read_bytes())
    (root / "link").symlink_to(tmp_path)
    manifest = root / "manifest.jsonl"
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    rows[1]["image"] = image
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DatasetError, match=r"manifest.jsonl:2: .*image"):
        read_manifest(root)


def test_missing_and_damaged_images_are_left_out_with_a_count(tmp_path, caplog):
    from cropperhead.data.manifest import read_usable_samples
    from tests.helpers import make_tiny_dataset

    root = make_tiny_dataset(tmp_path / "ds", n=12)
    (root / "images" / "tiny_003.jpg").unlink()
    data = (root / "images" / "tiny_005.jpg").read_bytes()
    (root / "images" / "tiny_005.jpg").write_bytes(data[: len(data) // 2])
    (root / "images" / "tiny_007.jpg").write_bytes(b"")
    with caplog.at_level("WARNING"):
        samples = read_usable_samples(root)
    assert len(samples) == 9
    assert "3 of 12 samples" in caplog.text
    dm = CropDataModule(root=str(root), image_size=32, batch_size=4, num_workers=0)
    dm.setup()
    assert sum(len(v) for v in dm.splits.values()) == 9
    loader = dm.train_dataloader()
    assert sum(len(b["image"]) for b in loader) > 0  # an epoch runs


def test_nothing_usable_is_one_line(tmp_path):
    from cropperhead.data.manifest import read_usable_samples
    from tests.helpers import make_tiny_dataset

    root = make_tiny_dataset(tmp_path / "ds", n=3)
    for path in (root / "images").iterdir():
        path.write_bytes(b"")
    with pytest.raises(DatasetError, match="3 of 3 samples of .* unusable"):
        read_usable_samples(root)


def test_an_image_that_breaks_during_training_costs_a_warning(tmp_path, caplog):
    from cropperhead.data import CropDataset
    from cropperhead.data.manifest import read_manifest as read
    from tests.helpers import make_tiny_dataset

    root = make_tiny_dataset(tmp_path / "ds", n=4)
    samples = read(root)
    dataset = CropDataset(samples, 32)
    (root / "images" / "tiny_001.jpg").write_bytes(b"\xff\xd8\xffgarbage\xff\xd9")
    with caplog.at_level("WARNING"):
        item = dataset[1]
    assert int(item["index"]) == 2
    assert "tiny_001.jpg" in caplog.text


def test_the_photographers_habits_from_the_training_split():
    from cropperhead.data.datamodule import crop_habits, straightens
    from cropperhead.geometry import largest_crop

    def sample(i, crop):
        return Sample(image=f"/x/{i}.jpg", source=f"/p/{i}.jpg", width=600, height=400, crop=crop)

    own = [sample(i, largest_crop(600, 400, 1.5, 2.0)) for i in range(20)]
    square = [sample(20 + i, largest_crop(600, 400, 1.0, 0.0)) for i in range(6)]
    left = [sample(30 + i, Crop.full_frame()) for i in range(4)]
    habit, uncropped = crop_habits(own + square + left)
    assert habit == {"free": 0.0, "original": 20 / 26, "1:1": 6 / 26}
    assert uncropped
    assert not crop_habits(own)[1]
    assert straightens(own + square)  # 20 of 26 crops turned
    assert not straightens(square + left)
