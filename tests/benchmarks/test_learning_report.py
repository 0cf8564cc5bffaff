import json
import math

import pytest


def _scores(iou, angle=1.0, bde=0.1, aspect=0.5, crop_accuracy=None):
    return {
        "count": 90,
        "iou_mean": iou,
        "iou_median": iou,
        "iou_above": 0.5,
        "bde_mean": bde,
        "angle_mae_deg": angle,
        "aspect_accuracy": aspect,
        "crop_accuracy": crop_accuracy,
        "crop_precision": None,
        "crop_recall": None,
    }


def _write(out, style, seed, model, usual, tag="", rho=None, cpu_s=600.0, none=0.4):
    folder = out / style / tag / f"seed_{seed}" if tag else out / style / f"seed_{seed}"
    folder.mkdir(parents=True)
    result = {
        "style": style,
        "seed": seed,
        "tag": tag,
        "train": {"wall_s": cpu_s / 2, "cpu_s": cpu_s},
        "evaluation": {
            "model": model,
            "baselines": {"usual_crop": usual, "full_frame": _scores(none, angle=2.5)},
            "confidence": None if rho is None else {"samples": 90, "spearman_iou": rho},
        },
    }
    (folder / "result.json").write_text(json.dumps(result))


@pytest.fixture
def results(tmp_path):
    out = tmp_path / "bench"
    # thirds: every goal met.
    for seed, iou, usual, angle in [
        (1, 0.80, 0.60, 0.4),
        (2, 0.82, 0.62, 0.5),
        (3, 0.81, 0.61, 0.45),
    ]:
        _write(out, "thirds", seed, _scores(iou, angle), _scores(usual), rho=0.1 * seed)
    # tight: beats the usual crop, level, but the seeds disagree by 0.05.
    for seed, iou in [(1, 0.70), (2, 0.75)]:
        _write(out, "tight", seed, _scores(iou, 0.1), _scores(0.5), cpu_s=1200.0)
    # sky: one seed only (spread unknown), and short of the margin.
    _write(out, "sky", 1, _scores(0.70, 0.3), _scores(0.60))
    # sometimes: decisions scored.
    for seed, acc in [(1, 0.9), (2, 0.8)]:
        _write(out, "sometimes", seed, _scores(0.9, 0.2, crop_accuracy=acc), _scores(0.6))
    # Another recipe, tagged: kept apart.
    _write(out, "thirds", 1, _scores(0.3), _scores(0.6), tag="other")
    (out / "libraries" / "thirds-p340-t90-d0").mkdir(parents=True)
    return out


def test_mean_spread_and_goals_over_seeds(learning, results):
    by_style = {s.style: s for s in learning.collect(results)}
    assert list(by_style) == ["thirds", "tight", "sky", "sometimes"]  # the styles' order
    thirds = by_style["thirds"]
    assert thirds.seeds == [1, 2, 3]
    assert thirds.mean("model", "iou_mean") == pytest.approx(0.81)
    assert thirds.spread("model", "iou_mean") == pytest.approx(0.02)
    assert thirds.mean("usual_crop", "iou_mean") == pytest.approx(0.61)
    assert thirds.mean("model", "angle_mae_deg") == pytest.approx(0.45)
    assert thirds.mean("full_frame", "angle_mae_deg") == pytest.approx(2.5)
    assert thirds.confidence_rho == pytest.approx([0.1, 0.2, 0.3])
    assert thirds.goals() == {"iou_margin": True, "angle_mae": True, "iou_spread": True}
    assert thirds.goal_met()

    tight = by_style["tight"]
    assert tight.spread("model", "iou_mean") == pytest.approx(0.05)
    assert tight.goals() == {"iou_margin": True, "angle_mae": True, "iou_spread": False}
    assert not tight.goal_met()
    assert tight.train_cpu_min == pytest.approx([20.0, 20.0])

    sky = by_style["sky"]
    assert sky.goals() == {"iou_margin": False, "angle_mae": True, "iou_spread": None}
    assert not sky.goal_met()

    sometimes = by_style["sometimes"]
    assert sometimes.mean("model", "crop_accuracy") == pytest.approx(0.85)
    assert sometimes.spread("model", "crop_accuracy") == pytest.approx(0.1)
    assert math.isnan(sometimes.mean("usual_crop", "crop_accuracy"))
    assert math.isnan(learning._mean(sometimes.confidence_rho))


def test_tags_are_reported_apart(learning, results):
    (other,) = learning.collect(results, "other")
    assert other.style == "thirds"
    assert other.mean("model", "iou_mean") == pytest.approx(0.3)
    assert not other.goal_met()
    assert learning.collect(results, "nothing") == []


def test_text_and_markdown_tables(learning, results, capsys):
    text = learning.format_report(learning.collect(results), results)
    assert "0.810 (0.020)" in text  # model IoU of thirds: mean (spread)
    assert "0.610 (0.020)" in text  # its usual crop
    assert "thirds: IoU 0.810 >= 0.610 + 0.15: yes" in text
    assert "-> MET" in text
    assert "IoU spread 0.050 <= 0.03: NO -> not met" in text
    assert "? (one seed)" in text
    for row in ("model", "usual crop", "no crop"):
        assert row in text
    assert learning.main(["report", "--out", str(results), "--markdown"]) == 0
    md = capsys.readouterr().out
    assert md.startswith("| style | row | IoU | BDE | angle MAE | aspect acc.")
    assert "| thirds | model | 0.810 (0.020) |" in md
    assert "| thirds | +0.200 yes | 0.45 yes | 0.020 yes | met |" in md
    assert learning.main(["report", "--out", str(results), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data[0]["rows"]["model"]["iou_mean"]["mean"] == pytest.approx(0.81)
    assert data[0]["goal_met"] is True
    assert learning.main(["report", "--out", str(results / "empty")]) == 1


def test_evaluate_gets_the_runs_split_fractions(learning):
    args = ["model=resnet34", "data.val_fraction=0.2", "++data.test_fraction=0.1"]
    assert learning._fractions(args) == ["--val-fraction", "0.2", "--test-fraction", "0.1"]
    assert learning._fractions(["trainer.max_epochs=3"]) == []


def test_hydra_values_are_quoted_when_needed(learning, tmp_path):
    assert learning.hydra_value(tmp_path / "a_b-1.2") == str(tmp_path / "a_b-1.2")
    assert learning.hydra_value(tmp_path / "with space") == f"'{tmp_path / 'with space'}'"
    with pytest.raises(ValueError, match="quotes"):
        learning.hydra_value(tmp_path / "it's")


@pytest.mark.parametrize(
    ("keep", "left"),
    [("last", ["last.ckpt"]), ("none", []), ("all", ["epoch_000.ckpt", "last.ckpt"])],
)
def test_checkpoints_kept(learning, tmp_path, keep, left):
    for name in ("last.ckpt", "epoch_000.ckpt"):
        (tmp_path / name).write_bytes(b"x")
    assert learning.prune_checkpoints(tmp_path, keep) == left


def test_repredict_keeps_the_training_and_replaces_the_scores(learning, tmp_path, monkeypatch):
    lib = learning.Library(tmp_path / "libraries" / "thirds-p340-t90-d0", "thirds")
    folder = tmp_path / "thirds" / "seed_1"
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "checkpoints" / "last.ckpt").write_bytes(b"weights")
    old = {
        "result_version": learning.RESULT_VERSION,
        "train_args": ["model=resnet34"],
        "train": {"wall_s": 300.0, "cpu_s": 600.0},
        "commands": ["python train.py ...", "python predict.py old", "cropperhead evaluate old"],
        "evaluation": {"model": _scores(0.5), "baselines": {"usual_crop": _scores(0.4)}},
        "git": "aaaa",
    }
    (folder / "result.json").write_text(json.dumps(old))
    ran = []

    def fake_step(name, argv, log, capture=False):
        ran.append((name, argv))
        evaluation = {"model": _scores(0.7), "baselines": {"usual_crop": _scores(0.4)}}
        return learning.Step(name, argv, wall_s=1.0, stdout=json.dumps(evaluation))

    monkeypatch.setattr(learning, "run_step", fake_step)
    meta = {"train_args": ["model=resnet34"], "git": "bbbb"}
    result = learning.repredict_one(lib, 1, folder, ["mirror_average=false"], meta)
    assert [name for name, _ in ran] == ["predict", "evaluate"]
    assert "mirror_average=false" in ran[0][1]
    assert "--split-seed" in ran[1][1]
    written = json.loads((folder / "result.json").read_text())
    assert written == result
    assert written["train"] == old["train"]
    assert written["git"] == "aaaa"
    assert written["predict_git"] == "bbbb"
    assert written["commands"][0] == old["commands"][0]
    assert written["evaluation"]["model"]["iou_mean"] == 0.7
    assert written["predict_args"] == ["mirror_average=false"]
    # Another training recipe, or no checkpoint: refused, the result left as it is.
    with pytest.raises(learning.BenchmarkError, match="trained with"):
        learning.repredict_one(lib, 1, folder, [], {"train_args": [], "git": "cccc"})
    (folder / "checkpoints" / "last.ckpt").unlink()
    with pytest.raises(learning.BenchmarkError, match="last.ckpt"):
        learning.repredict_one(lib, 1, folder, [], meta)
    assert json.loads((folder / "result.json").read_text()) == written
