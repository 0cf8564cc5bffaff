"""``cropperhead train`` and ``cropperhead predict``: the Hydra commands from any folder.

Every run here starts in a temporary folder outside the checkout, as an installed user
would, so the configs must come from the package (``pkg://cropperhead/conf``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import assert_untouched, plant_user_files
from tests.test_sweeps import TINY

REPO_ROOT = Path(__file__).resolve().parents[1]


def _cropperhead(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "offline", "CROPPERHEAD_CACHE_DIR": str(cwd / "cache")}
    # The checkout is not on the path: only the installed package is.
    env.pop("PYTHONPATH", None)
    out = subprocess.run(
        [sys.executable, "-m", "cropperhead.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    if check:
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    return out


def test_train_help_lists_the_config_groups_and_the_main_options(tmp_path):
    out = _cropperhead(["train", "--help"], tmp_path).stdout
    assert out.startswith("cropperhead train: learn how a photographer crops")
    assert "data: demo, library" in out
    assert "model: resnet18, resnet34, resnet50" in out
    assert "loss: ciou, diou, giou, iou, l1, smooth_l1" in out
    assert "hparams_search: grid, optuna" in out
    for option in ("data.root=DIR", "trainer.max_epochs=N", "--config-dir", "-m "):
        assert option in out, option
    # Hydra's own groups stay out of the user's help.
    assert "hydra/launcher" not in out


def test_predict_help_lists_its_options(tmp_path):
    out = _cropperhead(["predict", "--help"], tmp_path).stdout
    assert out.startswith("cropperhead predict: suggest crops for new photos")
    for option in ("ckpt_path=CKPT", "input=PHOTOS", "write_xmp=false", "aspect=auto"):
        assert option in out, option


def test_top_level_help_lists_train_and_predict(tmp_path):
    out = _cropperhead(["--help"], tmp_path).stdout
    for command in ("train ", "predict ", "scan "):
        assert command in out, command


def test_a_users_own_experiment_file_comes_in_with_config_dir(tmp_path):
    conf = tmp_path / "my-crops" / "conf"
    (conf / "experiment").mkdir(parents=True)
    (conf / "experiment" / "wedding.yaml").write_text(
        "# @package _global_\ndefaults:\n  - override /model: resnet34\n\n"
        "seed: 7\ndata:\n  image_size: 96\n"
    )
    out = _cropperhead(
        ["train", "--config-dir", str(conf), "experiment=wedding", "--cfg", "job"], tmp_path
    )
    cfg = yaml.safe_load(out.stdout)
    assert cfg["seed"] == 7
    assert cfg["data"]["image_size"] == 96
    assert cfg["model"]["backbone"] == "resnet34"
    # The packaged experiment is still there beside the user's.
    example = _cropperhead(["train", "experiment=example", "--cfg", "job"], tmp_path)
    assert yaml.safe_load(example.stdout)["seed"] != 7


def test_an_unknown_experiment_names_what_exists(tmp_path):
    out = _cropperhead(["train", "experiment=nosuch", "--cfg", "job"], tmp_path, check=False)
    assert out.returncode != 0
    assert "nosuch" in out.stderr
    assert "example" in out.stderr
    assert "Traceback" not in out.stderr


def _only(pattern: str, root: Path) -> Path:
    found = sorted(root.glob(pattern))
    assert len(found) == 1, (pattern, found)
    return found[0]


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_train_and_predict_from_any_folder_share_their_checkpoints(tmp_path, tiny_dataset):
    work = tmp_path / "elsewhere"
    # The folder a user runs the commands in holds their own files, a logs/ folder of
    # theirs included: the runs go beside them and touch none.
    planted = plant_user_files(work) | plant_user_files(work / "logs", ["notes.txt"])
    _cropperhead(["train", f"data.root={tiny_dataset}", *TINY], work)
    # Outputs go under the current folder's logs/, as with python train.py.
    ckpt = _only("logs/train/runs/*/checkpoints/last.ckpt", work)
    photos = tiny_dataset / "images"
    _cropperhead(["predict", f"ckpt_path={ckpt}", f"input={photos}", "progress=false"], work)
    by_command = _records(_only("logs/predict/runs/*/predictions.jsonl", work))
    assert_untouched(planted)
    assert len(by_command) == len(list(photos.glob("*.jpg")))
    # The checkout's predict.py reads the same checkpoint and suggests the same crops.
    script = tmp_path / "by_script.jsonl"
    subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "predict.py"),
            f"ckpt_path={ckpt}",
            f"input={photos}",
            f"output={script}",
            "progress=false",
            f"hydra.run.dir={tmp_path / 'script_run'}",
        ],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        env={**os.environ, "WANDB_MODE": "offline"},
    )
    by_script = _records(script)
    crops = lambda records: {r["source"]: r["crop"] for r in records}  # noqa: E731
    assert crops(by_command) == crops(by_script)


@pytest.mark.slow
def test_multirun_through_the_subcommand(tmp_path, tiny_dataset):
    _cropperhead(["train", "-m", f"data.root={tiny_dataset}", *TINY, "seed=1,2"], tmp_path)
    sweep = _only("logs/train/multiruns/*", tmp_path)
    for job in ("0", "1"):
        assert (sweep / job / "checkpoints" / "last.ckpt").is_file(), job
        assert (sweep / job / "metrics.json").is_file(), job


def test_the_cli_hands_exactly_the_hydra_commands_to_hydra():
    from cropperhead import cli, commands

    for name in cli.HYDRA_COMMANDS:
        assert callable(getattr(commands, name)), name
    with pytest.raises(ValueError, match="not a Hydra command"):
        commands.run_hydra_command("scan", [])
