"""Fixtures for the prediction tests: a tiny trained checkpoint and small photo folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

#: Input side of the tiny model.
IMAGE_SIZE = 64


def write_photo(
    path: Path, size: tuple[int, int], seed: int, orientation: int | None = None
) -> Path:
    """A JPEG (or PNG, by suffix) of ``size`` stored pixels with a red square; EXIF optional."""
    rng = np.random.default_rng(seed)
    w, h = size
    img = np.empty((h, w, 3), np.uint8)
    img[:] = rng.integers(30, 90, 3, dtype=np.uint8)
    img[:, :, 2] = np.linspace(40, 220, w, dtype=np.uint8)[None, :]
    x0, y0 = int(rng.uniform(0.1, 0.6) * w), int(rng.uniform(0.1, 0.6) * h)
    img[y0 : y0 + h // 4, x0 : x0 + w // 4] = (240, 30, 30)
    path.parent.mkdir(parents=True, exist_ok=True)
    kwargs = {}
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        kwargs["exif"] = exif
    if path.suffix.lower() in (".jpg", ".jpeg"):
        kwargs["quality"] = 92
    Image.fromarray(img).save(path, **kwargs)
    return path


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory) -> Path:
    """A real Lightning checkpoint after two training steps of a tiny resnet18 model.

    The head's last layer starts random (not at its zero init) so that predictions differ
    from photo to photo: parity tests then compare something.
    """
    import pytorch_lightning as pl
    import torch

    from cropperhead.data import CropDataModule
    from cropperhead.model import CropRegressor
    from tests.helpers import make_tiny_dataset

    root = tmp_path_factory.mktemp("predict-ckpt")
    data = make_tiny_dataset(root / "data", n=8)
    pl.seed_everything(3, workers=True)
    model = CropRegressor(pretrained=False, image_size=IMAGE_SIZE, head_hidden=32)
    with torch.no_grad():
        torch.nn.init.normal_(model.head.mlp[-1].weight, std=0.3)
    datamodule = CropDataModule(
        root=str(data),
        image_size=IMAGE_SIZE,
        batch_size=4,
        num_workers=0,
        persistent_workers=False,
        pin_memory=False,
        augment="none",
        val_fraction=0.25,
        test_fraction=0.0,
    )
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=1,
        limit_train_batches=2,
        limit_val_batches=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, datamodule=datamodule)
    path = root / "tiny.ckpt"
    trainer.save_checkpoint(path)
    return path


@pytest.fixture(scope="session")
def centre_ckpt(tmp_path_factory) -> Path:
    """A checkpoint of the centre head whose habits are set by hand.

    The photographer's aspects are ``original`` and ``1:1``, and the model always says
    ``1:1`` with p_crop 0.4 (they leave some photos alone): prediction's auto aspect and
    crop-or-leave are then known answers.
    """
    import pytorch_lightning as pl
    import torch

    from cropperhead.geometry.aspect import ASPECT_CLASSES
    from cropperhead.model import CropRegressor

    pl.seed_everything(4, workers=True)
    model = CropRegressor(
        pretrained=False, image_size=IMAGE_SIZE, head="centre", head_hidden=32, head_width=16
    )
    k = len(ASPECT_CLASSES)
    with torch.no_grad():
        torch.nn.init.normal_(model.head.heat.weight, std=0.5)
        last = model.head.extras[-1]
        last.weight.zero_()
        last.bias.zero_()
        last.bias[ASPECT_CLASSES.index("1:1")] = 5.0
        last.bias[ASPECT_CLASSES.index("4:5")] = 9.0  # not in the habit: never chosen
        last.bias[k] = float(torch.logit(torch.tensor(0.4)))
        habit = ("free", "original", "1:1")
        model.aspect_allowed.copy_(torch.tensor([c in habit for c in ASPECT_CLASSES]))
        model.learns_decision.fill_(True)
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_epochs=0, logger=False)
    trainer.strategy.connect(model)
    path = tmp_path_factory.mktemp("centre-ckpt") / "centre.ckpt"
    trainer.save_checkpoint(path)
    return path


@pytest.fixture
def photo_dir(tmp_path) -> Path:
    """Five small photos (EXIF orientations 1, 6, 3, 8, none; one PNG, one in a subfolder)."""
    folder = tmp_path / "photos"
    write_photo(folder / "a.jpg", (96, 64), 1, orientation=1)
    write_photo(folder / "b.jpg", (96, 64), 2, orientation=6)
    write_photo(folder / "c.jpg", (64, 96), 3, orientation=3)
    write_photo(folder / "d.png", (80, 80), 4)
    write_photo(folder / "sub" / "e.jpg", (120, 72), 5, orientation=8)
    return folder
