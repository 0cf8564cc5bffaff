"""DDP with two CPU processes (gloo) through ``python train.py trainer=ddp_cpu``."""

import json
import os
from pathlib import Path

import pytest
import pytorch_lightning as pl

import cropperhead.config  # noqa: F401  (resolvers)
from tests.helpers import run_train_py


class RankProbe(pl.Callback):
    """Records, per rank, what that process saw and wrote (loaded by the child processes).

    Args:
        out: folder for ``rank_N.json``.
    """

    def __init__(self, out: str) -> None:
        self.out = Path(out)
        self.train_indices: list[int] = []
        self.val_indices: list[int] = []
        self.saved: list[str] = []

    def setup(self, trainer, pl_module, stage):
        from PIL import Image

        original, probe = Image.Image.save, self

        def save(image, fp, *args, **kwargs):
            probe.saved.append(str(fp))
            return original(image, fp, *args, **kwargs)

        Image.Image.save = save

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.train_indices += [int(i) for i in batch["index"]]

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        if not trainer.sanity_checking:
            self.val_indices += [int(i) for i in batch["index"]]

    def on_fit_end(self, trainer, pl_module):
        self.out.mkdir(parents=True, exist_ok=True)
        record = {
            "rank": trainer.global_rank,
            "world_size": trainer.world_size,
            "sampler": type(trainer.train_dataloader.sampler).__name__,
            "train_indices": self.train_indices,
            "val_indices": self.val_indices,
            "val_sampler": type(trainer.val_dataloaders.sampler).__name__,
            "val_size": len(trainer.datamodule.splits["val"]),
            "val_metrics": {k: float(v) for k, v in trainer.callback_metrics.items()},
            "saved": self.saved,
            "pid": os.getpid(),
        }
        (self.out / f"rank_{trainer.global_rank}.json").write_text(json.dumps(record))


def test_ddp_configs_compose():
    from hydra import compose, initialize

    with initialize(version_base="1.3", config_path="../cropperhead/conf"):
        cpu = compose(config_name="train", overrides=["trainer=ddp_cpu"])
        gpu = compose(config_name="train", overrides=["trainer=ddp", "trainer.devices=4"])
    assert (cpu.trainer.strategy, cpu.trainer.accelerator, cpu.trainer.devices) == ("ddp", "cpu", 2)
    assert (gpu.trainer.strategy, gpu.trainer.accelerator, gpu.trainer.devices) == ("ddp", "gpu", 4)
    assert gpu.trainer.num_nodes == 1
    assert gpu.data.cache is True  # inherited from trainer=gpu


@pytest.mark.slow
def test_ddp_two_cpu_processes(tmp_path, tiny_dataset):
    logs, probe = tmp_path / "logs", tmp_path / "probe"
    args = [
        "trainer=ddp_cpu",
        "data=library",
        f"data.root={tiny_dataset}",
        "data.image_size=64",
        "data.batch_size=2",
        "data.num_workers=0",
        # 10 training photos, 5 for validation: two validation shards cannot be equal.
        "data.val_fraction=0.2",
        "data.test_fraction=0.1",
        # The uint8 cache path, as trainer=ddp uses it on GPUs: built once (local rank 0's
        # prepare_data), opened by both ranks, sharded by the DistributedSampler.
        "++data.cache=true",
        "model.pretrained=false",
        "model.head_hidden=32",
        "trainer.max_epochs=1",
        "test=false",
        "+trainer.enable_progress_bar=false",
        "callbacks.progress_bar=null",
        f"paths.log_dir={logs}",
        "+callbacks.probe._target_=tests.test_ddp.RankProbe",
        f"+callbacks.probe.out={probe}",
    ]
    run_train_py(args, tmp_path)

    # One Hydra run folder for both ranks (#393), with one set of everything.
    runs = list((logs / "train" / "runs").iterdir())
    assert len(runs) == 1, runs
    run = runs[0]
    assert sorted(p.name for p in (run / ".hydra").iterdir()) == [
        "config.yaml",
        "hydra.yaml",
        "overrides.yaml",
    ]
    ckpts = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert "last.ckpt" in ckpts
    assert len([c for c in ckpts if c.startswith("epoch_")]) == 1
    assert sorted(p.name for p in (run / "val_pictures").iterdir()) == [
        "epoch_000.png",
        "latest.png",
    ]
    summary = json.loads((run / "metrics.json").read_text())
    assert summary["status"] == "finished"
    assert 0 <= summary["metrics"]["val/iou"] <= 1

    assert len(list((tiny_dataset / "cache").glob("letterbox-64-*"))) == 1
    ranks = [json.loads((probe / f"rank_{r}.json").read_text()) for r in (0, 1)]
    assert [r["rank"] for r in ranks] == [0, 1]
    assert all(r["world_size"] == 2 for r in ranks)
    assert ranks[0]["pid"] != ranks[1]["pid"]
    # Lightning sharded the training set: each rank saw its own half.
    assert all(r["sampler"] == "DistributedSampler" for r in ranks)
    seen = [set(r["train_indices"]) for r in ranks]
    assert seen[0]
    assert seen[1]
    assert not seen[0] & seen[1]
    # Validation shards every photo exactly once (no padding repeats), so the synced
    # metrics are the plain means over the validation split.
    assert all(r["val_sampler"] == "UnrepeatedDistributedSampler" for r in ranks)
    val_seen = ranks[0]["val_indices"] + ranks[1]["val_indices"]
    assert ranks[0]["val_indices"]
    assert ranks[1]["val_indices"]
    assert sorted(val_seen) == sorted(set(val_seen))
    assert ranks[0]["val_size"] % 2 == 1
    assert len(val_seen) == ranks[0]["val_size"]
    # Validation metrics are reduced across ranks: both report the same numbers.
    for key in ("val/iou", "val/bde", "val/angle_mae", "val/loss"):
        assert ranks[0]["val_metrics"][key] == pytest.approx(ranks[1]["val_metrics"][key]), key
    # Pictures come from rank 0 only.
    assert any(p.endswith("latest.png") for p in ranks[0]["saved"])
    assert not [p for p in ranks[1]["saved"] if p.endswith(".png")]


# -- trainer=gpu pieces that run on a CPU -------------------------------------------------


@pytest.mark.parametrize(("capability", "expected"), [((7, 5), "16-mixed"), ((9, 0), "bf16-mixed")])
def test_gpu_precision_follows_the_gpu(monkeypatch, capability, expected):
    import torch
    from hydra import compose, initialize

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: capability)
    with initialize(version_base="1.3", config_path="../cropperhead/conf"):
        cfg = compose(config_name="train", overrides=["trainer=gpu"])
    assert cfg.trainer.precision == expected
    assert cfg.trainer.benchmark is True
    assert cfg.model.channels_last is True
    assert cfg.data.cache is True


@pytest.mark.slow
def test_compile_true_trains(cfg_train, monkeypatch):
    # Inductor's C++ code generation takes about 3 minutes for a ResNet on 2 CPU cores,
    # too long for CI: compile with the aot_eager backend here (Dynamo capture and
    # AOTAutograd, the same graph inductor gets); scripts/gpu_check.sh runs inductor.
    import functools

    import torch
    from omegaconf import open_dict

    from cropperhead.training import train

    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="aot_eager"))
    with open_dict(cfg_train):
        cfg_train.model.compile = True
        cfg_train.trainer.fast_dev_run = True
        cfg_train.test = False
    metrics, objects = train(cfg_train)
    model = objects["model"]
    assert isinstance(model._compiled, torch._dynamo.eval_frame.OptimizedModule)
    assert torch.isfinite(torch.tensor(metrics["train/loss"]))
    # Checkpoints hold one copy of the weights.
    assert not [k for k in model.state_dict() if "_compiled" in k or "_orig_mod" in k]
