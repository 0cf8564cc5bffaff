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
