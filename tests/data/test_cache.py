"""The uint8 letterbox cache and the on-device augmentations (run here on the CPU)."""

import json
import os

import numpy as np
import pytest
import torch
from omegaconf import open_dict
from PIL import Image
from torch.utils.data import DataLoader

from cropperhead.data import CropDataModule, CropDataset, read_manifest
from cropperhead.data import cache as cache_mod
from cropperhead.data.cache import CachedCropDataset, build_cache, cache_key, collate_cached
from cropperhead.data.gpu import (
    GpuAugment,
    content_mask,
    hflip_content_boxes,
    hflip_crops,
    normalize_uint8,
)
from cropperhead.data.transforms import PAD_RGB, CropAugment, PhotoScale
from cropperhead.geometry import Crop, largest_crop
from cropperhead.training import train
from tests.helpers import make_tiny_dataset

SIZE = 64


@pytest.fixture
def dataset(tmp_path):
    return make_tiny_dataset(tmp_path / "ds", n=10)


def _batches(dataset_obj, collate=None, workers=0):
    loader = DataLoader(dataset_obj, batch_size=4, collate_fn=collate, num_workers=workers)
    return list(loader)


@pytest.mark.parametrize("workers", [0, 2])
def test_cache_gives_exactly_the_cpu_datasets_tensors(dataset, workers):
    cache = build_cache(dataset, SIZE, workers=workers, progress=False)
    samples = read_manifest(dataset)
    assert cache.images.shape == (len(samples), SIZE, SIZE, 3)
    rows = [7, 2, 5, 0, 9, 1]  # a split is any subset, in its own order
    reference = _batches(CropDataset([samples[r] for r in rows], SIZE))
    # One worker process: the memory map must reopen there, not be pickled.
    cached = _batches(CachedCropDataset(cache, rows), collate_cached, workers=1)
    for ref, got in zip(reference, cached, strict=True):
        assert got["image"].dtype == torch.uint8
        assert got["image"].shape[-1] == 3
        got = GpuAugment("default")(got, train=False)
        assert set(got) == set(ref)
        for key in ref:
            assert got[key].dtype == ref[key].dtype, key
            assert torch.equal(got[key], ref[key]), key
        assert got["image"].is_contiguous(memory_format=torch.channels_last)
    # Item-wise access (default collate) gives the same batch as the batched slice.
    single = _batches(CachedCropDataset(cache, rows))
    assert torch.equal(single[0]["image"], cached[0]["image"])


def test_cache_is_reused_rebuilt_when_stale_and_per_image_size(dataset, monkeypatch):
    first = build_cache(dataset, SIZE, progress=False)
    stamp = os.stat(first.path / "images.npy").st_mtime_ns
    calls = []
    original = cache_mod._letterbox_rows
    monkeypatch.setattr(cache_mod, "_letterbox_rows", lambda *a: calls.append(1) or original(*a))
    again = build_cache(dataset, SIZE, progress=False)
    assert again.path == first.path
    assert not calls
    assert os.stat(again.path / "images.npy").st_mtime_ns == stamp

    # Another image size is another cache; both stay.
    other = build_cache(dataset, 32, progress=False)
    assert other.path != first.path
    assert first.path.is_dir()

    # A relabelled photo (edited manifest): new key, rebuilt, the stale one removed.
    manifest = dataset / "manifest.jsonl"
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    rows[3]["crop"] = Crop(0.1, 0.1, 0.9, 0.9, 0.0).to_dict()
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    relabelled = build_cache(dataset, SIZE, progress=False)
    assert relabelled.path != first.path
    assert not first.path.exists()
    assert np.allclose(relabelled.crops[3], [0.1, 0.1, 0.9, 0.9, 0.0])
    assert other.path.is_dir()

    # A rescanned image (same manifest, new pixels) is noticed too.
    image = dataset / rows[0]["image"]
    Image.new("RGB", Image.open(image).size, (0, 255, 0)).save(image)
    os.utime(image, ns=(stamp + 10**9, stamp + 10**9))
    repainted = build_cache(dataset, SIZE, progress=False)
    assert repainted.path != relabelled.path
    x0, y0, w, h = repainted.content_boxes[0]
    centre = repainted.images[0, y0 + h // 2, x0 + w // 2]
    assert centre[1] > 200
    assert centre[0] < 50
    assert cache_key(dataset, SIZE) == repainted.key


def test_interrupted_build_leaves_nothing_behind(dataset, monkeypatch):
    def broken(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cache_mod, "_letterbox_rows", broken)
    with pytest.raises(KeyboardInterrupt):
        build_cache(dataset, SIZE, progress=False)
    assert list((dataset / "cache").iterdir()) == []
    monkeypatch.undo()
    assert build_cache(dataset, SIZE, progress=False).path.is_dir()


def test_unreadable_image_is_a_dataset_error_naming_it(tmp_path):
    from cropperhead.data import DatasetError

    root = make_tiny_dataset(tmp_path / "big", n=140)  # several chunks for the workers
    # Whole on the outside (a JPEG's first and last bytes), garbage inside: only decoding
    # finds out. (A file that is visibly cut short is left out before: test_datamodule.)
    (root / "images" / "tiny_100.jpg").write_bytes(b"\xff\xd8\xff not a jpeg \xff\xd9")
    with pytest.raises(DatasetError, match="tiny_100.jpg"):
        build_cache(root, SIZE, workers=2, progress=False)
    assert list((root / "cache").iterdir()) == []


def _angled_crops(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        w, h = int(rng.integers(40, 160)), int(rng.integers(40, 160))
        scale = PhotoScale(float(rng.uniform(2, 9)), float(rng.uniform(2, 9)))
        big_w, big_h = w * scale.x, h * scale.y
        crop = largest_crop(
            big_w,
            big_h,
            big_w / big_h * rng.uniform(0.5, 1.5),
            float(rng.uniform(-12, 12)),
            (big_w * rng.uniform(0.35, 0.65), big_h * rng.uniform(0.35, 0.65)),
        )
        yield np.zeros((h, w, 3), np.uint8), crop, scale


def test_gpu_flip_moves_labels_exactly_as_crop_augment():
    flip = CropAugment("light", hflip_p=1.0)
    flip.photometric = None
    crops, aspects, expected = [], [], []
    for image, crop, scale in _angled_crops(64):
        _, flipped, _ = flip(image, crop, scale)
        h, w = image.shape[:2]
        crops.append(crop.as_array())
        aspects.append((w * scale.x) / (h * scale.y))
        expected.append(flipped.as_array())
    crops_t = torch.tensor(np.array(crops), dtype=torch.float32)
    aspect_t = torch.tensor(aspects, dtype=torch.float32)
    got = hflip_crops(crops_t, aspect_t)
    expected_t = torch.tensor(np.array(expected), dtype=torch.float32)
    assert torch.allclose(got, expected_t, atol=2e-6, rtol=0)
    assert torch.equal(got[:, 4], -crops_t[:, 4])
    # For a turned crop a plain mirror of the edges would be wrong: the test has teeth.
    naive = torch.stack(
        [1 - crops_t[:, 2], crops_t[:, 1], 1 - crops_t[:, 0], crops_t[:, 3], -crops_t[:, 4]], 1
    )
    assert (naive - expected_t).abs().max() > 0.01
    # Twice is the identity.
    assert torch.allclose(hflip_crops(got, aspect_t), crops_t, atol=2e-6, rtol=0)


def test_gpu_flip_mirrors_pixels_and_content_box(dataset):
    cache = build_cache(dataset, SIZE, progress=False)
    batch = next(
        iter(DataLoader(CachedCropDataset(cache, range(10)), 10, collate_fn=collate_cached))
    )
    augment = GpuAugment("default", hflip_p=1.0, jitter_p=0.0, blur_noise_p=0.0)
    out = augment(batch, train=True)
    assert torch.equal(out["image"], normalize_uint8(batch["image"].flip(2)))
    assert torch.equal(out["content_box"], hflip_content_boxes(batch["content_box"], SIZE))
    assert torch.equal(out["crop"], hflip_crops(batch["crop"], batch["aspect"]))
    # The photo lies inside the mirrored content box, padding outside it.
    mask = content_mask(out["content_box"], SIZE)[:, 0]
    pad = normalize_uint8(torch.tensor(PAD_RGB, dtype=torch.uint8).view(1, 1, 1, 3))[0, :, 0, 0]
    image = out["image"].permute(0, 2, 3, 1)
    assert torch.allclose(image[~mask], pad.expand_as(image[~mask]))
    assert not torch.allclose(image[mask], pad.expand_as(image[mask]))


def test_gpu_colour_jitter_keeps_labels_and_padding(dataset):
    cache = build_cache(dataset, SIZE, progress=False)
    batch = next(
        iter(DataLoader(CachedCropDataset(cache, range(10)), 10, collate_fn=collate_cached))
    )
    torch.manual_seed(0)
    out = GpuAugment("default", hflip_p=0.0, jitter_p=1.0, blur_noise_p=1.0)(batch, train=True)
    plain = normalize_uint8(batch["image"])
    assert torch.equal(out["crop"], batch["crop"])
    mask = content_mask(batch["content_box"], SIZE).expand(-1, 3, -1, -1)
    assert torch.equal(out["image"][~mask], plain[~mask])
    assert (out["image"][mask] - plain[mask]).abs().mean() > 0.05
    assert torch.isfinite(out["image"]).all()


def test_presets_the_cache_cannot_do_are_refused_up_front(dataset):
    with pytest.raises(ValueError, match="data.cache=false"):
        CropDataModule(root=str(dataset), cache=True, augment="strong")
    with pytest.raises(ValueError, match="uint8"):
        GpuAugment()({"image": torch.zeros(1, 3, 8, 8)}, train=False)


def test_training_on_the_cache_path(cfg_train):
    with open_dict(cfg_train):
        cfg_train.data.cache = True
        cfg_train.trainer.fast_dev_run = True
    metrics, objects = train(cfg_train)
    datamodule = objects["datamodule"]
    assert 0 <= metrics["val/iou"] <= 1
    assert np.isfinite(metrics["train/loss"])
    assert isinstance(datamodule.train_dataloader().dataset, CachedCropDataset)
    assert (datamodule.root / "cache").is_dir()
