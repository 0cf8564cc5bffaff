"""train(cfg) end to end on tiny generated data (CPU)."""

import logging
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from omegaconf import open_dict
from torch.utils.data import DataLoader

from cropperhead.data import CropDataset
from cropperhead.geometry.boxes import crop_iou_family
from cropperhead.model import CropRegressor
from cropperhead.training import summary_line, train

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("backbone", ["resnet18", "resnet34", "resnet50"])
def test_fast_dev_run_each_model(cfg_train, backbone):
    with open_dict(cfg_train):
        cfg_train.trainer.fast_dev_run = True
        cfg_train.model.backbone = backbone
    metrics, objects = train(cfg_train)
    assert "val/iou" in metrics
    assert "test/iou" in metrics
    assert 0 <= metrics["val/iou"] <= 1


def test_without_a_test_split_the_verdict_is_on_validation(cfg_train, caplog):
    # data=library's default: every photo not validated on trains; nothing is tested.
    with open_dict(cfg_train):
        cfg_train.trainer.fast_dev_run = True
        cfg_train.data.test_fraction = 0.0
    with caplog.at_level(logging.INFO, logger="cropperhead.training"):
        metrics, objects = train(cfg_train)
    assert objects["datamodule"].splits["test"] == []
    assert not [k for k in metrics if k.startswith("test/")]
    assert "no test split" in caplog.text
    assert summary_line(metrics, "test") == ""
    assert summary_line(metrics, "val").startswith("val IoU")


@pytest.mark.parametrize("loss", ["l1", "smooth_l1", "iou", "giou", "diou", "ciou"])
def test_fast_dev_run_each_loss(cfg_train, loss):
    with open_dict(cfg_train):
        cfg_train.trainer.fast_dev_run = True
        cfg_train.test = False
        cfg_train.model.loss.name = loss
    metrics, _ = train(cfg_train)
    assert torch.isfinite(torch.tensor(metrics["train/loss"]))


@pytest.mark.parametrize("precision", ["bf16-mixed", "32-true"])
def test_each_cpu_precision_trains_with_fp32_weights(cfg_train, precision):
    # What trainer.precision resolves to by default depends on the CPU: run both here.
    with open_dict(cfg_train):
        cfg_train.trainer.fast_dev_run = True
        cfg_train.trainer.precision = precision
    metrics, objects = train(cfg_train)
    assert objects["trainer"].precision == precision
    assert 0 <= metrics["val/iou"] <= 1
    assert torch.isfinite(torch.tensor(metrics["train/loss"]))
    # Autocast computes in bf16; the weights, and so the checkpoints, stay fp32.
    assert {p.dtype for p in objects["model"].parameters()} == {torch.float32}


def test_one_epoch_writes_last_and_best_checkpoint_and_resumes(cfg_train, tmp_path):
    metrics, objects = train(cfg_train)
    ckpts = Path(cfg_train.paths.output_dir) / "checkpoints"
    assert (ckpts / "last.ckpt").is_file()
    assert any(p.name.startswith("epoch_") for p in ckpts.iterdir())
    for key in ("val/iou", "val/iou_usual_crop", "val/iou_full_frame", "val/bde", "val/angle_mae"):
        assert key in metrics
    assert (Path(cfg_train.paths.output_dir) / "val_pictures" / "latest.png").is_file()
    # Loading needs no training config: the model is rebuilt from its hyperparameters.
    model = CropRegressor.load_from_checkpoint(ckpts / "last.ckpt")
    assert model.hparams.image_size == cfg_train.data.image_size
    assert not torch.equal(model.usual_crop, torch.tensor([0.0, 0.0, 1.0, 1.0, 0.0]))
    # Resume for one more epoch from last.ckpt.
    with open_dict(cfg_train):
        cfg_train.ckpt_path = str(ckpts / "last.ckpt")
        cfg_train.trainer.max_epochs = 2
        cfg_train.test = False
    metrics, objects = train(cfg_train)
    assert objects["trainer"].current_epoch == 2
    # Sweeps get the best epoch's score, the one the kept checkpoint has.
    best = float(objects["trainer"].checkpoint_callback.best_model_score)
    assert metrics["val/iou_best"] == pytest.approx(best)
    assert best >= metrics["val/iou"] - 1e-6
    assert objects["trainer"].global_step == 2 * objects["trainer"].num_training_batches


def test_overfitting_a_handful_of_photos_reaches_high_iou(cfg_train):
    # The whole path (data, head, loss, optimiser) can learn: one batch by heart.
    with open_dict(cfg_train):
        cfg_train.trainer.max_epochs = 60
        cfg_train.trainer.overfit_batches = 1
        cfg_train.trainer.check_val_every_n_epoch = 30
        cfg_train.data.augment = "none"
        cfg_train.data.batch_size = 4
        cfg_train.model.optimizer.lr = 2e-3
        cfg_train.callbacks.early_stopping = None
        cfg_train.callbacks.validation_pictures = None
        cfg_train.test = False
    _, objects = train(cfg_train)
    model, datamodule = objects["model"], objects["datamodule"]
    # Lightning turned shuffling off: the batch learnt is the first four photos.
    dataset = CropDataset(datamodule.splits["train"][:4], cfg_train.data.image_size)
    batch = next(iter(DataLoader(dataset, batch_size=4)))
    # Batch-norm in training mode (batch statistics), as during the fit: with 4 tiny
    # photos, running statistics of the deepest layers are too few samples to trust.
    model.train()
    with torch.no_grad():
        pred = model(batch["image"], batch["aspect"])
    iou = crop_iou_family(pred, batch["crop"], batch["aspect"], torch.ones(len(pred)), "iou")
    assert iou.mean() > 0.9, iou


@pytest.mark.parametrize(
    ("root", "message"),
    [
        ("none", "no training set at"),  # a folder that does not exist
        ("empty", "has no samples"),  # a manifest without lines
        (None, "no training set given: pass data.root"),
    ],
)
def test_missing_dataset_is_a_one_line_error(tmp_path, root, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "manifest.jsonl").write_text("")
    args = [sys.executable, "train.py", "data=library", f"paths.output_dir={tmp_path / 'run'}"]
    if root is not None:
        args.append(f"data.root={tmp_path / root}")
    args.append("hydra.run.dir=" + str(tmp_path / "h"))
    out = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 2, out.stderr
    (line,) = [line for line in out.stderr.splitlines() if line.startswith("error")]
    assert line.startswith("error: ")
    assert message in line
    assert "ImageNet weights" not in out.stderr  # refused before the model is built
    assert "cropperhead scan" in line
    assert "Traceback" not in out.stderr
    assert "full_key" not in out.stderr
    assert "litlogger" not in out.stderr + out.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_gpu_trainer_without_a_gpu_is_a_one_line_error(tmp_path, tiny_dataset):
    args = [
        sys.executable,
        "train.py",
        "trainer=gpu",
        "data=library",
        f"data.root={tiny_dataset}",
        "model.pretrained=false",
        f"paths.output_dir={tmp_path / 'run'}",
        "hydra.run.dir=" + str(tmp_path / "h"),
    ]
    out = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 2, out.stderr
    (line,) = [line for line in out.stderr.splitlines() if line.startswith("error")]
    assert "trainer=cpu" in line
    assert "Traceback" not in out.stderr
    assert "full_key" not in out.stderr


def test_data_root_trains_on_it_whatever_data_says(cfg_train_global, tmp_path):
    """`python train.py data.root=DS` (data=demo by default): DS, and nothing else, is used.

    The demo used to be built into data.root, deleting it and a sibling ``library/``.
    """
    from hydra.core.hydra_config import HydraConfig

    from tests.helpers import assert_untouched, make_tiny_dataset, plant_user_files

    work = tmp_path / "W"
    ds = make_tiny_dataset(work / "ds", n=16)
    planted = plant_user_files(work / "library") | plant_user_files(work)
    planted |= {p: p.read_bytes() for p in ds.rglob("*") if p.is_file()}
    cfg = cfg_train_global.copy()
    assert cfg.data.demo is True
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path / "run")
        cfg.data.root = str(ds)
        cfg.data.demo_dir = str(tmp_path / "cache")
        cfg.trainer.fast_dev_run = True
    HydraConfig().set_config(cfg)
    _, objects = train(cfg)
    datamodule = objects["datamodule"]
    assert datamodule.root == ds
    assert sum(len(v) for v in datamodule.splits.values()) == 16
    assert not (tmp_path / "cache").exists()  # no demo was built
    assert_untouched(planted)


def test_an_output_folder_of_the_users_is_refused(cfg_train):
    from cropperhead.training import TrainingError
    from tests.helpers import assert_untouched, plant_user_files

    folder = Path(cfg_train.paths.output_dir) / "mine"
    planted = plant_user_files(folder)
    with open_dict(cfg_train):
        cfg_train.paths.output_dir = str(folder)
    with pytest.raises(TrainingError, match="not a training run's"):
        train(cfg_train)
    assert_untouched(planted)


def test_the_centre_head_learns_the_photographers_habits(cfg_train, tiny_dataset):
    """Uncropped photos turn on the crop-or-leave decision; the habit is kept in checkpoints."""
    import json

    from cropperhead.geometry.aspect import ASPECT_CLASSES

    manifest = tiny_dataset / "manifest.jsonl"
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    for row in rows[::3]:  # a third of the photos left uncropped
        row["crop"] = {"left": 0.0, "top": 0.0, "right": 1.0, "bottom": 1.0, "angle": 0.0}
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with open_dict(cfg_train):
        cfg_train.model.head = "centre"
        cfg_train.trainer.max_epochs = 2
        cfg_train.test = False
    metrics, objects = train(cfg_train)
    assert "val/decision_acc" in metrics
    assert "train/centre" in metrics
    dm, model = objects["datamodule"], objects["model"]
    assert dm.has_uncropped
    assert bool(model.learns_decision)
    assert model.aspect_allowed.tolist() == [c in dm.aspect_habit for c in ASPECT_CLASSES]
    ckpt = Path(cfg_train.paths.output_dir) / "checkpoints" / "last.ckpt"
    loaded = CropRegressor.load_from_checkpoint(ckpt)
    assert bool(loaded.learns_decision)
    assert torch.equal(loaded.aspect_allowed, model.aspect_allowed)
