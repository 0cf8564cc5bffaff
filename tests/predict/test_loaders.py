import json

import pytest
import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from cropperhead.predict.loaders import (
    EXPORT_FORMAT,
    METADATA_KEY,
    ModelLoadError,
    TorchCropModel,
    load_crop_model,
    model_kind,
    resolve_device,
)
from tests.predict.conftest import IMAGE_SIZE


def test_loads_a_checkpoint_without_training_config(tiny_ckpt):
    model = load_crop_model(tiny_ckpt, device="cpu")
    assert isinstance(model, TorchCropModel)
    assert model.info.kind == "checkpoint"
    assert model.info.image_size == IMAGE_SIZE
    assert model.info.backbone == "resnet18"
    assert not model.module.training
    out = model(torch.zeros(2, 3, IMAGE_SIZE, IMAGE_SIZE), torch.tensor([1.5, 0.5]))
    assert out.shape == (2, 5)
    assert out.dtype == torch.float32


def test_missing_and_non_file_paths(tmp_path):
    with pytest.raises(ModelLoadError, match="no checkpoint at"):
        load_crop_model(tmp_path / "nope.ckpt")
    with pytest.raises(ModelLoadError, match="not a file"):
        load_crop_model(tmp_path)


def test_a_file_that_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.ckpt"
    path.write_text("hello")
    with pytest.raises(ModelLoadError, match="not a checkpoint"):
        load_crop_model(path)


class _Other(pl.LightningModule):
    def __init__(self, width: int = 3):
        super().__init__()
        self.save_hyperparameters()
        self.layer = nn.Linear(width, 1)

    def training_step(self, batch, batch_idx):
        return self.layer(batch[0]).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_a_lightning_checkpoint_of_another_model(tmp_path):
    trainer = pl.Trainer(
        max_steps=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(_Other(), DataLoader(TensorDataset(torch.zeros(4, 3)), batch_size=2))
    path = tmp_path / "other.ckpt"
    trainer.save_checkpoint(path)
    with pytest.raises(ModelLoadError, match="another model"):
        load_crop_model(path)


def _tampered(tiny_ckpt, tmp_path, change):
    ckpt = torch.load(tiny_ckpt, map_location="cpu", weights_only=True)
    change(ckpt)
    path = tmp_path / "tampered.ckpt"
    torch.save(ckpt, path)
    return path


def test_checkpoints_of_incompatible_versions(tiny_ckpt, tmp_path):
    def new_option(ckpt):
        ckpt["hyper_parameters"]["zoom_head"] = True

    def resized_head(ckpt):
        ckpt["state_dict"]["head.mlp.0.weight"] = torch.zeros(7, 3)

    def future_lightning(ckpt):
        ckpt["pytorch-lightning_version"] = "3.1.0"

    def unknown_backbone(ckpt):
        ckpt["hyper_parameters"]["backbone"] = "vit_h_14"

    expected = {
        new_option: "unknown hyperparameters zoom_head",
        resized_head: "weights do not fit",
        future_lightning: "Lightning 3.1.0",
        unknown_backbone: "vit_h_14",
    }
    for change, message in expected.items():
        with pytest.raises(ModelLoadError, match=message):
            load_crop_model(_tampered(tiny_ckpt, tmp_path, change))


class Gadget:
    """Not a tensor: weights_only loading refuses to unpickle it."""


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "pickled.ckpt"
    torch.save({"state_dict": {}, "gadget": Gadget()}, path)
    with pytest.raises(ModelLoadError, match="pickled objects"):
        load_crop_model(path)


def _traced(path, extra=None):
    module = torch.jit.trace(nn.Linear(2, 2), torch.zeros(1, 2))
    torch.jit.save(module, str(path), _extra_files=extra or {})
    return path


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_exported_files_without_or_with_newer_metadata(tmp_path):
    plain = _traced(tmp_path / "plain.pt")
    assert model_kind(plain) == "torchscript"
    with pytest.raises(ModelLoadError, match="without CropperHead metadata"):
        load_crop_model(plain)
    meta = {"format": EXPORT_FORMAT, "export_version": 99, "image_size": 64}
    newer = _traced(tmp_path / "newer.pt", {METADATA_KEY: json.dumps(meta)})
    with pytest.raises(ModelLoadError, match="export version 99"):
        load_crop_model(newer)
    foreign = _traced(tmp_path / "foreign.pt", {METADATA_KEY: json.dumps({"format": "x"})})
    with pytest.raises(ModelLoadError, match="not a CropperHead crop model"):
        load_crop_model(foreign)


def test_an_onnx_file_that_is_not_ours(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "identity",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    path = tmp_path / "identity.onnx"
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.save(model, str(path))
    with pytest.raises(ModelLoadError, match="without CropperHead metadata"):
        load_crop_model(path)
    (tmp_path / "junk.onnx").write_bytes(b"\x00\x01junk")
    with pytest.raises(ModelLoadError, match="not a usable ONNX model"):
        load_crop_model(tmp_path / "junk.onnx")


def test_devices():
    expected = "cuda" if torch.cuda.is_available() else None
    assert resolve_device("cpu") == "cpu"
    if expected is None and not torch.backends.mps.is_available():
        assert resolve_device("auto") == "cpu"
        with pytest.raises(ModelLoadError, match="no CUDA GPU"):
            resolve_device("cuda")
    with pytest.raises(ModelLoadError, match="device must be"):
        resolve_device("abacus")


def test_limit_threads_narrows_torch_on_the_cpu_and_restores_it(tiny_ckpt):
    model = load_crop_model(tiny_ckpt, device="cpu")
    before = torch.get_num_threads()
    images, aspect = torch.zeros(2, 3, IMAGE_SIZE, IMAGE_SIZE), torch.tensor([1.5, 0.5])
    reference = model(images, aspect)
    with model.limit_threads(1):
        assert torch.get_num_threads() == 1
        # The same network; oneDNN splits the sums by thread count: float32 rounding apart.
        torch.testing.assert_close(model(images, aspect), reference, rtol=0, atol=1e-5)
    assert torch.get_num_threads() == before
    with model.limit_threads(None), model.limit_threads(before + 4):  # never widens
        assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError, match="boom"), model.limit_threads(1):
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before


def test_checkpoints_of_the_first_version_still_load(tiny_ckpt, tmp_path):
    """Before the centre head: no head hyperparameters, no habit buffers (grid head)."""

    def first_version(ckpt):
        for key in ("head", "head_width"):
            ckpt["hyper_parameters"].pop(key, None)
        for key in ("aspect_allowed", "learns_decision"):
            ckpt["state_dict"].pop(key, None)

    model = load_crop_model(_tampered(tiny_ckpt, tmp_path, first_version))
    assert model.info.aspect_classes == ()
    assert model.info.extras == 0
    out = model(torch.randn(2, 3, 64, 64), torch.tensor([1.5, 0.7]))
    assert out.shape == (2, 5)
