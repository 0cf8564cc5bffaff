import numpy as np
import pytest
import torch
from PIL import Image

from cropperhead.data.dataset import CropDataset
from cropperhead.data.manifest import Sample
from cropperhead.geometry import Crop, crop_is_inside
from cropperhead.geometry import boxes as B
from cropperhead.metadata.types import UNREADABLE
from cropperhead.predict.loaders import CropModel, ModelInfo, load_crop_model
from cropperhead.predict.predictor import (
    Prediction,
    Predictor,
    Skipped,
    default_num_workers,
    default_threads,
    prepare_photo,
)
from cropperhead.scan.photo import load_photo
from tests.predict.conftest import IMAGE_SIZE, write_photo


@pytest.fixture(scope="module")
def model(tiny_ckpt):
    return load_crop_model(tiny_ckpt, device="cpu")


def _photos(folder):
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_prepares_photos_exactly_as_training_evaluates_them(tmp_path, model):
    """Same pixels, same normalisation, same aspect as CropDataset on the scanned image."""
    photo_path = write_photo(tmp_path / "p.jpg", (300, 200), 7, orientation=6)
    shown = load_photo(photo_path, 512)
    # What the scan would store (lossless here, so that only the pipeline is compared).
    (tmp_path / "ds" / "images").mkdir(parents=True)
    shown.image.save(tmp_path / "ds" / "images" / "p.png")
    sample = Sample(
        image=tmp_path / "ds" / "images" / "p.png",
        source=str(photo_path),
        width=shown.width,
        height=shown.height,
        crop=Crop.full_frame(),
    )
    item = CropDataset([sample], IMAGE_SIZE)[0]
    predictor = Predictor(model, num_workers=0)
    canvas = torch.from_numpy(prepare_photo(shown, IMAGE_SIZE))[None]
    assert torch.equal(predictor.normalize(canvas)[0], item["image"])
    assert (shown.width, shown.height) == (200, 300)
    assert shown.width / shown.height == pytest.approx(float(item["aspect"]), rel=1e-6)


def test_predicts_every_photo_in_order_and_skips_unreadable_ones(photo_dir, model):
    (photo_dir / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    paths = _photos(photo_dir)
    results = list(Predictor(model, batch_size=2, num_workers=0, confidence=True).predict(paths))
    assert [r.source for r in results] == paths
    assert [r.index for r in results] == list(range(len(paths)))
    skipped = [r for r in results if isinstance(r, Skipped)]
    assert [s.source.name for s in skipped] == ["broken.jpg"]
    assert skipped[0].reason == UNREADABLE
    preds = {r.source.name: r for r in results if isinstance(r, Prediction)}
    assert set(preds) == {"a.jpg", "b.jpg", "c.jpg", "d.png", "e.jpg"}
    # Display sizes follow the EXIF orientation (6 and 8 turn the picture).
    assert (preds["a.jpg"].width, preds["a.jpg"].height) == (96, 64)
    assert (preds["b.jpg"].width, preds["b.jpg"].height) == (64, 96)
    assert (preds["e.jpg"].width, preds["e.jpg"].height) == (72, 120)
    assert [preds[n].orientation for n in ("a.jpg", "b.jpg", "c.jpg", "d.png", "e.jpg")] == [
        1,
        6,
        3,
        1,
        8,
    ]
    for p in preds.values():
        assert crop_is_inside(p.crop, p.width, p.height, tol_px=1e-3)
        assert 0.0 <= p.confidence <= 1.0
    # The model looks at the photo: different photos, different crops.
    crops = np.stack([p.crop.as_array() for p in preds.values()])
    assert np.ptp(crops[:, 0]) > 1e-3


def test_batch_size_and_workers_do_not_change_results(photo_dir, model):
    paths = _photos(photo_dir)
    one = list(Predictor(model, batch_size=1, num_workers=0, confidence=True).predict(paths))
    many = list(
        Predictor(model, batch_size=3, num_workers=2, confidence=True).predict(paths, progress=True)
    )
    # One intra-op thread while the workers decode: the same crops.
    narrow = list(Predictor(model, batch_size=2, num_workers=2, threads=1).predict(paths))
    assert [r.source for r in one] == [r.source for r in many] == [r.source for r in narrow]
    for a, b, c in zip(one, many, narrow, strict=True):
        np.testing.assert_allclose(a.crop.as_array(), b.crop.as_array(), atol=1e-5)
        np.testing.assert_allclose(a.crop.as_array(), c.crop.as_array(), atol=1e-5)
        assert a.confidence == pytest.approx(b.confidence, abs=1e-5)


def test_the_network_keeps_to_the_cores_the_workers_leave_until_the_last_batch(
    photo_dir, model, monkeypatch
):
    paths = _photos(photo_dir)
    asked = []
    limit_threads = type(model).limit_threads

    def spy(self, threads):
        asked.append(threads)
        return limit_threads(self, threads)

    monkeypatch.setattr(type(model), "limit_threads", spy)
    list(Predictor(model, batch_size=2, num_workers=2, threads=1).predict(paths))
    # 5 photos in batches of 2: two while photos remain to decode, the last one alone.
    assert asked == [1, 1, None]
    asked.clear()
    list(Predictor(model, batch_size=2, num_workers=0, threads=1).predict(paths))
    assert asked == [None, None, None]  # decoding in this process: nothing to leave room for
    assert default_threads(0) is None
    assert default_threads(1) >= 1


class _ConstantModel(CropModel):
    """Returns the same crop for every image (mirrored or not)."""

    def __init__(self, crop):
        super().__init__(ModelInfo(path=None, kind="test", image_size=32, backbone="none"), "cpu")
        self.crop = torch.tensor(crop, dtype=torch.float32)

    def __call__(self, images, aspect):
        return self.crop.expand(len(images), 5).clone()


def test_confidence_is_one_for_mirror_consistent_predictions():
    canvases = torch.zeros(2, 32, 32, 3, dtype=torch.uint8)
    aspect = torch.tensor([1.5, 0.8])
    # Symmetric about the vertical midline: the mirrored photo's crop mirrors back onto it.
    symmetric = Predictor(_ConstantModel([0.2, 0.1, 0.8, 0.9, 0.0]), confidence=True)
    _, conf = symmetric.predict_canvases(canvases, aspect)
    assert torch.allclose(conf, torch.ones(2, dtype=torch.float64), atol=1e-9)
    # Off to the left: its mirror image lies off to the right, so they overlap little.
    lopsided = Predictor(
        _ConstantModel([0.0, 0.1, 0.5, 0.9, 3.0]), confidence=True, mirror_average=False
    )
    crops, conf = lopsided.predict_canvases(canvases, aspect)
    assert (conf < 0.2).all()
    assert torch.allclose(crops[0], torch.tensor([0.0, 0.1, 0.5, 0.9, 3.0], dtype=torch.float64))


def test_mirror_average_suggests_the_crop_halfway_to_the_mirrored_photos():
    canvases = torch.zeros(2, 32, 32, 3, dtype=torch.uint8)
    aspect = torch.tensor([1.5, 0.8])
    lopsided = _ConstantModel([0.0, 0.1, 0.5, 0.9, 3.0])
    # Its mirror image, mapped back, lies off to the right turned the other way: halfway
    # is a level crop centred across, as tall as both.
    averaged = Predictor(lopsided)  # on by default, the mirror agreement off on a CPU
    assert averaged.confidence is False
    assert averaged.mirror_average is True
    crops, conf = averaged.predict_canvases(canvases, aspect)
    assert conf is None
    frames = B.crop_to_frame(crops, aspect.double(), 1.0)
    plain = B.crop_to_frame(torch.tensor([[0.0, 0.1, 0.5, 0.9, 3.0]] * 2).double(), aspect, 1.0)
    assert torch.allclose(frames[:, 0], aspect.double() / 2, atol=1e-9)
    assert torch.allclose(frames[:, 1:4], plain[:, 1:4], atol=1e-6)
    assert torch.allclose(crops[:, 4], torch.zeros(2, dtype=torch.float64), atol=1e-9)
    for crop, a in zip(crops, aspect.tolist(), strict=True):
        assert crop_is_inside(Crop(*crop.tolist()), a, 1.0, tol_px=1e-9)
    # None follows the mirrored pass: on with confidence, off without it.
    assert Predictor(lopsided, confidence=True, mirror_average=None).mirror_average is True
    assert Predictor(lopsided, confidence=False, mirror_average=None).mirror_average is False
    single = Predictor(lopsided, mirror_average=False).predict_canvases(canvases, aspect)[0]
    assert torch.allclose(single[0], torch.tensor([0.0, 0.1, 0.5, 0.9, 3.0]).double())
    with_conf, agreement = Predictor(lopsided, confidence=True).predict_canvases(canvases, aspect)
    assert torch.allclose(with_conf, crops)
    assert (agreement < 0.2).all()


def test_without_confidence_records_none(photo_dir, model):
    results = list(Predictor(model, num_workers=0, confidence=False).predict(_photos(photo_dir)))
    assert all(r.confidence is None for r in results)


def test_confidence_defaults_to_on_for_gpus_only(model):
    assert Predictor(model).confidence is (model.device != "cpu")


def test_rejects_bad_settings(model):
    with pytest.raises(ValueError, match="batch_size"):
        Predictor(model, batch_size=0)
    with pytest.raises(ValueError, match="num_workers"):
        Predictor(model, num_workers=-1)
    with pytest.raises(ValueError, match="threads"):
        Predictor(model, threads=0)
    # Batches of 8 on the CPU, where they overlap the decoding; what is asked for otherwise.
    assert Predictor(model).batch_size == 8
    assert Predictor(model, batch_size=3).batch_size == 3


def test_default_workers():
    assert default_num_workers(1) == 0
    assert 1 <= default_num_workers(100) <= 8


def test_decoding_an_image_without_exif_is_orientation_one(tmp_path, model):
    path = tmp_path / "plain.png"
    Image.new("RGB", (40, 30), (10, 20, 30)).save(path)
    (result,) = Predictor(model, num_workers=0).predict([path])
    assert (result.width, result.height, result.orientation) == (40, 30, 1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_predictions_match_the_cpu(tiny_ckpt, photo_dir, model):
    paths = _photos(photo_dir)
    gpu = load_crop_model(tiny_ckpt, device="cuda")
    on_gpu = list(Predictor(gpu, num_workers=2).predict(paths))
    on_cpu = list(Predictor(model, num_workers=0, confidence=True).predict(paths))
    assert all(r.confidence is not None for r in on_gpu)  # on by default on a GPU
    for a, b in zip(on_cpu, on_gpu, strict=True):
        # cuDNN may compute in TF32: a looser tolerance than CPU-to-CPU.
        np.testing.assert_allclose(a.crop.as_array(), b.crop.as_array(), atol=5e-3)
