"""Every option of every config group composes and instantiates."""

from pathlib import Path

import hydra
import pytest
from hydra import compose, initialize
from omegaconf import open_dict

import cropperhead.config  # noqa: F401
from cropperhead.training import instantiate_list

CONF = Path(__file__).resolve().parents[1] / "cropperhead" / "conf"


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def _compose(*overrides: str):
    with initialize(version_base="1.3", config_path="../cropperhead/conf"):
        return compose(config_name="train", return_hydra_config=True, overrides=list(overrides))


def test_defaults_are_the_demo_on_the_cpu():
    cfg = _compose()
    assert cfg.data.demo is True
    assert cfg.trainer.accelerator == "cpu"
    assert cfg.model.backbone == "resnet18"
    assert cfg.model.loss.name == "giou"
    assert list(cfg.logger) == ["csv"]
    assert cfg.optimized_metric == "val/iou"


def test_library_split_is_the_one_evaluate_assumes():
    # cropperhead evaluate --split val must score the photos a data=library run held out.
    from cropperhead.report.baselines import LIBRARY_TEST_FRACTION, LIBRARY_VAL_FRACTION

    cfg = _compose("data=library", "data.root=/photos/ds")
    assert cfg.data.val_fraction == LIBRARY_VAL_FRACTION
    assert cfg.data.test_fraction == LIBRARY_TEST_FRACTION == 0


@pytest.mark.parametrize("loss", _options("loss"))
def test_loss_option_lands_in_the_model(loss):
    cfg = _compose(f"loss={loss}")
    assert cfg.model.loss.name == loss
    model = hydra.utils.instantiate(cfg.model, pretrained=False, head_hidden=0)
    assert model.criterion.name == loss


@pytest.mark.parametrize("model", _options("model"))
def test_model_options(model):
    cfg = _compose(f"model={model}", "data.image_size=96")
    module = hydra.utils.instantiate(cfg.model, pretrained=False)
    assert module.hparams.backbone == model
    assert module.hparams.image_size == 96


@pytest.mark.parametrize(
    "group",
    ["data", "optimizer", "scheduler", "callbacks", "logger", "trainer", "debug", "experiment"],
)
def test_every_option_composes(group, tmp_path):
    for option in _options(group):
        cfg = _compose(f"{group}={option}")
        with open_dict(cfg):
            cfg.paths.output_dir = str(tmp_path)
        if group == "callbacks":
            instantiate_list(cfg.callbacks)
        if group == "logger" and option != "wandb":
            instantiate_list(cfg.logger)
        if group == "trainer" and option in ("default", "cpu"):
            hydra.utils.instantiate(cfg.trainer)
        if group == "data" and option == "library":
            assert cfg.data.root is None


def test_experiment_deltas_win_over_train_yaml():
    cfg = _compose("experiment=example")
    assert cfg.model.backbone == "resnet34"
    assert cfg.model.loss.name == "ciou"
    assert cfg.trainer.max_epochs == 40


@pytest.mark.parametrize(("amx", "expected"), [(True, "bf16-mixed"), (False, "32-true")])
def test_cpu_precision_is_bf16_only_where_the_cpu_has_amx(monkeypatch, amx, expected):
    import torch

    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    assert _compose().trainer.precision == expected
    assert _compose("trainer=cpu").trainer.precision == expected
    # Asked for explicitly, it is what the user said.
    assert _compose("trainer.precision=32-true").trainer.precision == "32-true"


def test_cpu_precision_without_the_feature_probe_is_full(monkeypatch):
    import torch

    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported", raising=False)
    assert cropperhead.config.cpu_precision() == "32-true"

    def broken():
        raise RuntimeError("no cpuinfo")

    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", broken, raising=False)
    assert cropperhead.config.cpu_precision() == "32-true"
