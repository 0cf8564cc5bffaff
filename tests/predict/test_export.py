import json

import numpy as np
import pytest
import torch

from cropperhead.predict.export import (
    FORMATS,
    SUFFIXES,
    ExportError,
    default_export_path,
    export_model,
)
from cropperhead.predict.loaders import METADATA_KEY, load_crop_model
from cropperhead.predict.predictor import Prediction, Predictor
from tests.predict.conftest import IMAGE_SIZE

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


@pytest.fixture(scope="module")
def exported(tiny_ckpt, tmp_path_factory):
    """The tiny checkpoint exported to both formats (once for the module)."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    out = tmp_path_factory.mktemp("exported")
    return {
        "onnx": export_model(tiny_ckpt, "onnx", out / "model.onnx"),
        "torchscript": export_model(tiny_ckpt, "torchscript", out / "model.pt"),
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_writes_a_verified_file_with_metadata(exported, fmt):
    result = exported[fmt]
    assert result.path.is_file()
    assert result.max_abs_diff < 1e-4
    model = load_crop_model(result.path, device="cpu")
    assert model.info.kind == fmt
    assert model.info.image_size == IMAGE_SIZE
    assert model.info.backbone == "resnet18"
    assert model.info.hparams["image_size"] == IMAGE_SIZE


def test_onnx_metadata_props_and_dynamic_batch(exported):
    onnx = pytest.importorskip("onnx")
    model = onnx.load(str(exported["onnx"].path))
    props = {p.key: p.value for p in model.metadata_props}
    meta = json.loads(props[METADATA_KEY])
    assert meta["image_size"] == IMAGE_SIZE
    assert meta["mean"] == pytest.approx([0.485, 0.456, 0.406])
    assert props["backbone"] == "resnet18"
    assert [i.name for i in model.graph.input] == ["images", "aspect"]
    batch_dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_dim.dim_param  # symbolic, not a fixed size


def test_torchscript_extra_file(exported):
    extra = {METADATA_KEY: ""}
    torch.jit.load(str(exported["torchscript"].path), _extra_files=extra)
    assert json.loads(extra[METADATA_KEY])["format"] == "cropperhead-crop-model"


@pytest.mark.parametrize("fmt", FORMATS)
def test_exported_models_predict_like_the_checkpoint(exported, tiny_ckpt, photo_dir, fmt):
    paths = sorted(p for p in photo_dir.rglob("*") if p.is_file())
    checkpoint = load_crop_model(tiny_ckpt, device="cpu")
    reference = list(
        Predictor(checkpoint, batch_size=3, num_workers=0, confidence=True).predict(paths)
    )
    model = load_crop_model(exported[fmt].path, device="cpu")
    got = list(Predictor(model, batch_size=3, num_workers=0, confidence=True).predict(paths))
    assert all(isinstance(r, Prediction) for r in reference + got)
    want = np.stack([r.crop.as_array() for r in reference])
    have = np.stack([r.crop.as_array() for r in got])
    assert np.abs(want - have).max() < 1e-4
    conf_want = np.array([r.confidence for r in reference])
    conf_have = np.array([r.confidence for r in got])
    assert np.abs(conf_want - conf_have).max() < 1e-4
    assert np.ptp(want[:, 0]) > 1e-3  # the crops differ between photos: a real comparison


def test_reexporting_an_export_is_refused(exported):
    with pytest.raises(ExportError, match="already an exported onnx model"):
        export_model(exported["onnx"].path, "onnx")


def test_bad_arguments(tiny_ckpt):
    with pytest.raises(ExportError, match="format must be"):
        export_model(tiny_ckpt, "tflite")
    with pytest.raises(ExportError, match="--opset applies to --format onnx only"):
        export_model(tiny_ckpt, "torchscript", opset=17)
    assert default_export_path(tiny_ckpt, "onnx") == tiny_ckpt.with_suffix(".onnx")


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_centre_head_exports_its_habits_too(centre_ckpt, photo_dir, tmp_path, fmt):
    pytest.importorskip("onnxruntime")
    from cropperhead.geometry.aspect import ASPECT_CLASSES

    result = export_model(centre_ckpt, fmt, tmp_path / f"centre{SUFFIXES[fmt]}")
    model = load_crop_model(result.path, device="cpu")
    assert model.info.aspect_classes == ASPECT_CLASSES
    paths = sorted(p for p in photo_dir.rglob("*") if p.is_file())
    checkpoint = load_crop_model(centre_ckpt, device="cpu")
    want = list(Predictor(checkpoint, batch_size=2, num_workers=0).predict(paths))
    got = list(Predictor(model, batch_size=2, num_workers=0).predict(paths))
    for a, b in zip(want, got, strict=True):
        assert np.abs(a.crop.as_array() - b.crop.as_array()).max() < 1e-4
        assert np.allclose(a.aspect_probs, b.aspect_probs, atol=1e-4)
        assert a.p_crop == pytest.approx(0.4, abs=1e-4)
        assert b.p_crop == pytest.approx(a.p_crop, abs=1e-4)
        assert b.quality == pytest.approx(a.quality, abs=1e-4)
