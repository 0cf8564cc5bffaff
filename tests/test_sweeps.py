"""Sweeps: Hydra multiruns (basic and Optuna sweepers) and the W&B sweep files."""

import json
import math
import random
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize
from omegaconf import OmegaConf, open_dict

import cropperhead.config  # noqa: F401
from cropperhead.config import optuna_storage
from cropperhead.runs import read_sweep
from cropperhead.training import run_training
from tests.helpers import run_train_py

ROOT = Path(__file__).resolve().parents[1]
SEARCHES = sorted((ROOT / "cropperhead" / "conf" / "hparams_search").glob("*.yaml"))
WANDB_SWEEPS = sorted((ROOT / "sweeps").glob("*.yaml"))
#: Tiny CPU settings appended to every subprocess run.
TINY = [
    "data=library",
    "data.image_size=64",
    "data.batch_size=4",
    "data.num_workers=0",
    "model.pretrained=false",
    "model.head_hidden=32",
    "trainer.max_epochs=1",
    "+trainer.limit_train_batches=2",
    "+trainer.limit_val_batches=1",
    "test=false",
    "+trainer.enable_progress_bar=false",
    "callbacks.progress_bar=null",
]


def _compose(*overrides: str):
    with initialize(version_base="1.3", config_path="../cropperhead/conf"):
        return compose(config_name="train", return_hydra_config=True, overrides=list(overrides))


# -- Hydra sweeps ------------------------------------------------------------------------


@pytest.mark.parametrize("path", SEARCHES, ids=lambda p: p.stem)
def test_search_files_open_with_their_command_and_sweep_val_iou(path):
    lines = path.read_text().splitlines()
    assert lines[0] == "# @package _global_"
    assert lines[1].startswith(f"# python train.py hparams_search={path.stem}")
    cfg = _compose(f"hparams_search={path.stem}")
    assert cfg.hydra.mode.name == "MULTIRUN"
    assert cfg.optimized_metric == "val/iou"
    # The sweep folder is named after the search; W&B runs are grouped the same way.
    assert f"/{path.stem}_${{now:" in OmegaConf.to_container(cfg.hydra.sweep)["dir"]
    assert cfg.logger.wandb.group.startswith(f"{path.stem}_")
    # Every swept group option and every fixed key exists (no typo in a dotted path).
    for key, value in cfg.hydra.sweeper.params.items():
        if key in ("model", "loss"):
            options = value.removeprefix("choice(").removesuffix(")").split(",")
            for option in options:
                composed = _compose(f"{key}={option.strip()}")
                name = composed.model.backbone if key == "model" else composed.model.loss.name
                assert name == option.strip()
        else:
            assert OmegaConf.select(cfg, key, throw_on_missing=False) is not None, key


def test_optuna_search_space_and_direction():
    cfg = _compose("hparams_search=optuna")
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper")
    assert sweeper.direction == "maximize"
    assert set(sweeper.params) == {
        "model.optimizer.lr",
        "model.optimizer.weight_decay",
        "loss",
        "model.loss.l1_weight",
        "model.loss.angle_weight",
        "model",
        "data.image_size",
    }
    assert sweeper.storage.url is None
    assert sweeper.n_trials > 2


def test_optuna_storage_switch(tmp_path, monkeypatch):
    assert optuna_storage(None, str(tmp_path)) is None
    url = optuna_storage("sweep", str(tmp_path / "sweep"))
    assert url == f"sqlite:///{(tmp_path / 'sweep' / 'optuna.db').resolve()}"
    assert (tmp_path / "sweep").is_dir()
    import sqlalchemy

    monkeypatch.setattr(sqlalchemy, "__version__", "2.0.30")
    with pytest.raises(ValueError, match="sqlalchemy<2"):
        optuna_storage("sqlite:///x.db", str(tmp_path))


@pytest.mark.parametrize("metric", ["val/iou", "val/bde"])
def test_run_training_returns_the_optimized_metric(cfg_train, metric):
    with open_dict(cfg_train):
        cfg_train.trainer.fast_dev_run = True
        cfg_train.test = False
        cfg_train.optimized_metric = metric
    value = run_training(cfg_train)
    assert isinstance(value, float)
    assert math.isfinite(value)
    summary = json.loads((Path(cfg_train.paths.output_dir) / "metrics.json").read_text())
    assert summary["status"] == "finished"
    assert summary["metrics"][metric] == pytest.approx(value)


@pytest.mark.slow
def test_multirun_puts_each_job_in_its_own_folder(tmp_path, tiny_dataset):
    logs = tmp_path / "logs"
    run_train_py(
        ["-m", "model=resnet18,resnet34", "loss=l1,giou", f"data.root={tiny_dataset}"]
        + TINY
        + [f"paths.log_dir={logs}"],
        tmp_path,
    )
    sweeps = list((logs / "train" / "multiruns").iterdir())
    assert len(sweeps) == 1, sweeps  # conf/hydra/default.yaml's sweep folder
    jobs = sorted(p.name for p in sweeps[0].iterdir() if p.is_dir())
    assert jobs == ["0", "1", "2", "3"]
    assert (sweeps[0] / "multirun.yaml").is_file()
    assert not (logs / "train" / "runs").exists()  # no stray single-run folders
    seen = set()
    for job in jobs:
        folder = sweeps[0] / job
        assert (folder / "checkpoints" / "last.ckpt").is_file()
        assert (folder / "val_pictures" / "latest.png").is_file()
        config = yaml.safe_load((folder / ".hydra" / "config.yaml").read_text())
        seen.add((config["model"]["backbone"], config["model"]["loss"]["name"]))
        summary = json.loads((folder / "metrics.json").read_text())
        assert summary["status"] == "finished"
        assert Path(summary["best_model_path"]).parent == folder / "checkpoints"
    assert seen == {(m, loss) for m in ("resnet18", "resnet34") for loss in ("l1", "giou")}
    records = read_sweep(sweeps[0])
    assert [r.status for r in records] == ["finished"] * 4
    assert records[0].val_iou >= records[-1].val_iou


@pytest.mark.slow
def test_grid_search_groups_its_runs(tmp_path, tiny_dataset):
    logs = tmp_path / "logs"
    # Command-line values replace the file's lists: 2 jobs (loss=l1,giou) instead of 8.
    run_train_py(
        ["hparams_search=grid", "model=resnet18", "model.optimizer.lr=0.001"]
        + [f"data.root={tiny_dataset}", *TINY, f"paths.log_dir={logs}"],
        tmp_path,
    )
    (sweep,) = (logs / "train" / "multiruns").iterdir()
    assert sweep.name.startswith("grid_")
    groups = set()
    losses = set()
    for job in ("0", "1"):
        hparams = yaml.safe_load((sweep / job / "csv" / "hparams.yaml").read_text())
        groups.add(hparams["logger"]["wandb"]["group"])
        losses.add(hparams["model"]["loss"]["name"])
    # One group for the whole sweep, named like its folder.
    assert groups == {sweep.name}
    assert losses == {"l1", "giou"}


@pytest.mark.slow
def test_optuna_sweep_two_trials_with_sqlite_study(tmp_path, tiny_dataset):
    optuna = pytest.importorskip("optuna")
    sweep = tmp_path / "optuna"
    out = run_train_py(
        [
            "hparams_search=optuna",
            f"hydra.sweep.dir={sweep}",
            "hydra.sweeper.n_trials=2",
            "hydra.sweeper.storage.url=sweep",
            # Pinned here to keep the test fast; the rest of the space is sampled.
            "model=resnet18",
            f"data.root={tiny_dataset}",
            *TINY,
        ],
        tmp_path,
    )
    assert "Best value" in out.stdout + out.stderr
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0", "1"]
    study = optuna.load_study(study_name="cropperhead", storage=f"sqlite:///{sweep}/optuna.db")
    trials = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(trials) == 2
    assert {"model.optimizer.lr", "loss", "model.loss.angle_weight"} <= set(trials[0].params)
    # The value Optuna got is what each job's train() reported as val/iou.
    reported = sorted(
        json.loads((sweep / job / "metrics.json").read_text())["metrics"]["val/iou"]
        for job in ("0", "1")
    )
    assert sorted(t.value for t in trials) == pytest.approx(reported)
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert results["best_value"] == pytest.approx(max(reported))


# -- W&B sweeps --------------------------------------------------------------------------

_DISTRIBUTIONS = {"uniform", "log_uniform_values", "int_uniform", "q_uniform"}


def _sample_point(parameters: dict, rng: random.Random, first: bool = False) -> dict:
    """One point as W&B's controller would pick it (no contact with W&B)."""
    point = {}
    for name, spec in parameters.items():
        if "values" in spec:
            point[name] = spec["values"][0] if first else rng.choice(spec["values"])
        elif "value" in spec:
            point[name] = spec["value"]
        else:
            lo, hi = spec["min"], spec["max"]
            kind = spec["distribution"]
            if kind == "log_uniform_values":
                point[name] = math.exp(rng.uniform(math.log(lo), math.log(hi)))
            elif kind == "int_uniform":
                point[name] = rng.randint(lo, hi)
            else:
                point[name] = rng.uniform(lo, hi)
    return point


def _agent_command(sweep: dict, point: dict) -> list[str]:
    """The agent's command line: its macros expanded the way wandb's agent does."""
    macros = {
        "${env}": ["/usr/bin/env"],
        "${interpreter}": ["python"],
        "${program}": [sweep["program"]],
        # W&B formats each as f"{name}={value}".
        "${args_no_hyphens}": [f"{k}={v}" for k, v in point.items()],
    }
    command = []
    for item in sweep["command"]:
        command += macros.get(str(item), [str(item)])
    return command


@pytest.mark.parametrize("path", WANDB_SWEEPS, ids=lambda p: p.stem)
def test_wandb_sweep_file_composes_through_train_py(path, monkeypatch, tmp_path):
    sweep = yaml.safe_load(path.read_text())
    assert sweep["program"] == "train.py"
    assert (ROOT / sweep["program"]).is_file()
    assert sweep["method"] in {"grid", "random", "bayes"}
    assert sweep["metric"] == {"name": "val/iou", "goal": "maximize"}
    for spec in sweep["parameters"].values():
        if "distribution" in spec:
            assert spec["distribution"] in _DISTRIBUTIONS
            assert spec["min"] < spec["max"]
        else:
            assert spec.get("values"), spec
    assert "${args_no_hyphens}" in sweep["command"]
    monkeypatch.setenv("CROPPERHEAD_DATASET", str(tmp_path))
    rng = random.Random(0)
    for _ in range(3):
        point = _sample_point(sweep["parameters"], rng)
        command = _agent_command(sweep, point)
        assert command[:3] == ["/usr/bin/env", "python", "train.py"]
        cfg = _compose(*command[3:])
        assert cfg.optimized_metric == sweep["metric"]["name"]
        assert cfg.logger.wandb._target_.endswith("WandbLogger")
        assert cfg.logger.wandb.group == sweep["name"]
        assert cfg.data.root == str(tmp_path)
        for name, value in point.items():
            if name == "model":
                assert cfg.model.backbone == value
            elif name == "loss":
                assert cfg.model.loss.name == value
            else:
                assert OmegaConf.select(cfg, name) == pytest.approx(value), name
        import hydra

        model = hydra.utils.instantiate(cfg.model, pretrained=False)
        assert model.hparams.image_size == cfg.data.image_size


@pytest.mark.slow
def test_wandb_sweep_command_runs_offline(tmp_path, tiny_dataset, monkeypatch):
    sweep = yaml.safe_load((ROOT / "sweeps" / "random.yaml").read_text())
    point = _sample_point(sweep["parameters"], random.Random(1), first=True)
    point["data.image_size"] = min(sweep["parameters"]["data.image_size"]["values"])
    command = _agent_command(sweep, point)
    run_dir = tmp_path / "run"
    # The agent's command as it is, on a CPU: only the accelerator and the run's size
    # change (trainer=gpu's uint8 cache path runs on the CPU as well).
    overrides = [c for c in command[3:] if not c.startswith("data.image_size=")]
    extra = [o for o in TINY if not o.startswith(("data=", "data.image_size", "data.batch"))]
    monkeypatch.setenv("CROPPERHEAD_DATASET", str(tiny_dataset))
    run_train_py(
        [
            *overrides,
            f"data.image_size={point['data.image_size']}",
            "trainer.accelerator=cpu",
            "data.batch_size=4",
            *extra,
            f"hydra.run.dir={run_dir}",
        ],
        tmp_path,
    )
    assert list((run_dir / "wandb").glob("offline-run-*"))
    summary = json.loads((run_dir / "metrics.json").read_text())
    assert summary["status"] == "finished"
    assert (tiny_dataset / "cache").is_dir()  # trainer=gpu's cache path was taken
