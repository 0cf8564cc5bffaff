"""Shared test fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("WANDB_MODE", "offline")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_FIXTURES = REPO_ROOT.parent / "shared" / "fixtures"


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    """The real files in ../shared/fixtures (README there); skip where absent."""
    if not SHARED_FIXTURES.is_dir():
        pytest.skip(f"real fixtures not available: {SHARED_FIXTURES} is absent")
    return SHARED_FIXTURES


@pytest.fixture(scope="package")
def cfg_train_global():
    """conf/train.yaml composed the template's way, forced onto tiny CPU settings."""
    from hydra import compose, initialize
    from omegaconf import open_dict

    import cropperhead.config  # noqa: F401  (resolvers)

    with initialize(version_base="1.3", config_path="../cropperhead/conf"):
        cfg = compose(config_name="train", return_hydra_config=True, overrides=[])
        with open_dict(cfg):
            cfg.paths.log_dir = "."
            cfg.trainer.accelerator = "cpu"
            cfg.trainer.devices = 1
            cfg.trainer.max_epochs = 1
            cfg.trainer.limit_train_batches = 2
            cfg.trainer.limit_val_batches = 1
            cfg.trainer.limit_test_batches = 1
            cfg.callbacks.progress_bar = None
            cfg.trainer.enable_progress_bar = False
            cfg.trainer.enable_model_summary = False
            cfg.data.num_workers = 0
            cfg.data.image_size = 64
            cfg.data.batch_size = 4
            cfg.model.pretrained = False
            cfg.model.head_hidden = 32
            cfg.logger = None
    return cfg


@pytest.fixture
def tiny_dataset(tmp_path_factory) -> Path:
    from tests.helpers import make_tiny_dataset

    return make_tiny_dataset(tmp_path_factory.mktemp("tiny"), n=16)


@pytest.fixture
def cfg_train(cfg_train_global, tmp_path, tiny_dataset):
    """A fresh copy pointing at a tiny generated data set and ``tmp_path``."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    cfg = cfg_train_global.copy()
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path)
        cfg.data.root = str(tiny_dataset)
        cfg.data.demo = False
    HydraConfig().set_config(cfg)
    yield cfg
    GlobalHydra.instance().clear()
