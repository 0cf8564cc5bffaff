"""``cropperhead runs``: the table of a sweep's jobs, from the files training leaves."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from cropperhead.cli import main
from cropperhead.run_summary import write_run_summary
from cropperhead.runs import NotASweepError, read_sweep

HEADER = "epoch,step,train/loss_epoch,val/iou,val/bde,val/angle_mae,val/iou_usual_crop\n"


def _job(sweep: Path, name: str, overrides: list[str]) -> Path:
    job = sweep / name
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    return job


def _csv(job: Path, rows: list[tuple[int, float, float, float]]) -> None:
    (job / "csv").mkdir()
    lines = [HEADER]
    for epoch, iou, bde, angle in rows:
        lines.append(f"{epoch},{epoch * 10},0.5,,,,\n")  # a training row: no val columns
        lines.append(f"{epoch},{epoch * 10},,{iou},{bde},{angle},0.5\n")
    (job / "csv" / "metrics.csv").write_text("".join(lines))


def _ckpt(job: Path, name: str) -> Path:
    (job / "checkpoints").mkdir(exist_ok=True)
    path = job / "checkpoints" / name
    path.write_bytes(b"")
    return path


def _trainer(job: Path, best: Path | None, score: float | None) -> SimpleNamespace:
    ckpt = SimpleNamespace(
        monitor="val/iou",
        best_model_score=score,
        best_model_path=str(best) if best else "",
        last_model_path=str(job / "checkpoints" / "last.ckpt"),
    )
    return SimpleNamespace(
        is_global_zero=True, checkpoint_callback=ckpt, current_epoch=3, global_step=30
    )


@pytest.fixture
def sweep(tmp_path) -> Path:
    sweep = tmp_path / "multiruns" / "2026-11-26_10-00-00"
    common = ["data=library", "data.root=/data/ds"]
    # 0: finished, CSV log: the best epoch is epoch 1 (not the last one).
    job = _job(sweep, "0", ["model=resnet18", "loss=l1", *common])
    _csv(job, [(0, 0.61, 0.08, 2.5), (1, 0.72, 0.05, 1.9), (2, 0.70, 0.06, 1.8)])
    best = _ckpt(job, "epoch_001-iou_0.7200.ckpt")
    _ckpt(job, "last.ckpt")
    write_run_summary(job, _trainer(job, best, 0.72), {"val/iou": 0.70, "test/iou": 0.69})
    # 1: finished, no CSV (logger=wandb): metrics.json only.
    job = _job(sweep, "1", ["model=resnet34", "loss=giou", *common])
    best = _ckpt(job, "epoch_004-iou_0.8100.ckpt")
    write_run_summary(
        job, _trainer(job, best, 0.81), {"val/iou": 0.80, "val/bde": 0.04, "val/angle_mae": 1.2}
    )
    # 2: failed.
    job = _job(sweep, "2", ["model=resnet50", "loss=l1", *common])
    write_run_summary(job, _trainer(job, None, None), {}, error=RuntimeError("CUDA OOM\nmore"))
    # 3: unfinished (running or killed), one epoch logged, a checkpoint saved.
    job = _job(sweep, "3", ["model=resnet50", "loss=giou", *common])
    _csv(job, [(0, 0.55, 0.09, 3.0)])
    _ckpt(job, "epoch_000-iou_0.5500.ckpt")
    # 4: just launched: nothing but Hydra's files.
    _job(sweep, "4", ["model=resnet18", "loss=giou", *common])
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    return sweep


def test_records_best_first_with_status(sweep):
    records = read_sweep(sweep)
    assert [r.job for r in records] == ["1", "0", "3", "2", "4"]
    by_job = {r.job: r for r in records}
    assert by_job["0"].status == "finished"
    # Best epoch from the CSV, not the last epoch's value.
    assert (by_job["0"].val_iou, by_job["0"].bde, by_job["0"].angle_mae) == (0.72, 0.05, 1.9)
    assert by_job["0"].epoch == 1
    assert by_job["0"].checkpoint.endswith("epoch_001-iou_0.7200.ckpt")
    assert by_job["0"].metrics["test/iou"] == 0.69
    # Without a CSV: the checkpoint callback's best score and the final metrics.
    assert by_job["1"].val_iou == pytest.approx(0.81)
    assert by_job["1"].bde == pytest.approx(0.04)
    assert by_job["2"].status == "failed"
    assert by_job["2"].error.startswith("RuntimeError: CUDA OOM")
    assert by_job["2"].val_iou is None
    assert by_job["3"].status == "unfinished"
    assert by_job["3"].val_iou == pytest.approx(0.55)
    assert by_job["3"].checkpoint.endswith("epoch_000-iou_0.5500.ckpt")
    assert by_job["4"].status == "unfinished"
    assert by_job["4"].checkpoint is None


def test_table_and_json_from_the_command_line(sweep, capsys):
    assert main(["runs", str(sweep)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"sweep {sweep}: 5 jobs (1 failed, 2 finished, 2 unfinished)"
    assert out[1] == "common overrides: data=library data.root=/data/ds"
    assert out[2].split()[:4] == ["job", "status", "val", "IoU"]
    rows = [line.split() for line in out[3:]]
    assert [r[0] for r in rows] == ["1", "0", "3", "2", "4"]
    assert rows[0][:3] == ["1", "finished", "0.8100"]
    assert "model=resnet34" in rows[0]
    assert "loss=giou" in rows[0]
    assert "1/checkpoints/epoch_004-iou_0.8100.ckpt" in rows[0]
    assert rows[3][:3] == ["2", "failed", "-"]
    assert "[RuntimeError: CUDA OOM]" in out[6]
    assert main(["runs", str(sweep), "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["job"] for r in records] == ["1", "0", "3", "2", "4"]
    assert records[1]["overrides"][:2] == ["model=resnet18", "loss=l1"]
    assert Path(records[0]["checkpoint"]).is_absolute()


def test_a_folder_that_is_not_a_sweep_is_a_one_line_error(sweep, tmp_path, capsys):
    assert main(["runs", str(tmp_path / "nowhere")]) == 2
    assert main(["runs", str(sweep / "0")]) == 2
    assert main(["runs", str(sweep.parent)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3
    assert err[0].startswith("error: ")
    assert "single run" in err[1]
    assert f"try {sweep}" in err[2]
    with pytest.raises(NotASweepError):
        read_sweep(tmp_path)


def test_summary_is_written_by_rank_zero_only(tmp_path):
    trainer = _trainer(tmp_path, None, None)
    trainer.is_global_zero = False
    assert write_run_summary(tmp_path, trainer, {"val/iou": 0.5}) is None
    assert not (tmp_path / "metrics.json").exists()
