import json
import math

import numpy as np
import pytest

from cropperhead.data.manifest import read_manifest, usual_crop
from cropperhead.geometry import Crop, boundary_displacement_error
from cropperhead.report.evaluate import (
    EvaluationError,
    evaluate,
    evaluate_split,
)
from cropperhead.report.predictions import (
    ReportError,
    load_samples,
    read_predictions,
)
from tests.report.conftest import (
    EXPECTED_FULL_FRAME_IOUS,
    EXPECTED_IOUS,
    TURNED_PRED,
    TURNED_TARGET,
    manifest_row,
    prediction_row,
    write_jsonl,
)


def test_known_ious_bde_and_angles(known):
    result = evaluate(load_samples(known["manifest"]), read_predictions(known["predictions"]))
    ious = [c.iou for c in result.comparisons]
    assert ious == pytest.approx(EXPECTED_IOUS, abs=1e-9)
    assert result.model.iou_mean == pytest.approx(np.mean(EXPECTED_IOUS))
    assert result.model.iou_median == pytest.approx(np.median(EXPECTED_IOUS))
    assert result.model.iou_above == pytest.approx(0.25)  # only the exact copy is > 0.8
    assert [c.angle_error_deg for c in result.comparisons] == pytest.approx([0, 45, 0, 0])
    assert result.model.angle_mae_deg == pytest.approx(45 / 4)
    bde_turned = boundary_displacement_error(TURNED_PRED, TURNED_TARGET)
    assert result.model.bde_mean == pytest.approx((0.125 + bde_turned + 0 + 0.25) / 4)
    assert result.full_frame.iou_mean == pytest.approx(np.mean(EXPECTED_FULL_FRAME_IOUS))
    assert result.full_frame.angle_mae_deg == pytest.approx(20 / 4)


def test_virtual_copies_and_unmatched_are_counted(known):
    result = evaluate(known["rows"], read_predictions(known["predictions"]))
    assert result.matched_samples == 4
    assert result.matched_photos == 3
    assert result.unmatched_predictions == ["/photos/elsewhere.jpg"]
    assert result.unmatched_samples == ["/photos/d.jpg"]
    assert [c.source for c in result.comparisons].count("/photos/c.jpg") == 2


def test_usual_crop_is_the_manifest_median(known):
    samples = read_manifest(known["dataset"])
    result = evaluate(samples, read_predictions(known["predictions"]))
    assert result.usual == Crop(*usual_crop(samples))
    forced = evaluate(samples, read_predictions(known["predictions"]), usual=Crop.full_frame())
    assert forced.usual_crop == forced.full_frame


def test_accepts_plain_dicts_and_normalises_paths(known):
    preds = [prediction_row("/photos//./a.jpg", 200, 100, Crop(0.25, 0, 0.75, 1))]
    result = evaluate(known["rows"], preds)
    assert result.matched_photos == 1
    assert result.comparisons[0].iou == pytest.approx(1 / 3)


def test_duplicates_skips_and_size_mismatches(known):
    preds = [
        prediction_row("/photos/a.jpg", 100, 200, Crop(0, 0, 0.5, 1)),  # turned the other way
        prediction_row("/photos/a.jpg", 200, 100, Crop(0.25, 0, 0.75, 1)),
        {"source": "/photos/b.jpg", "reason": "unreadable: truncated file"},
    ]
    result = evaluate(known["rows"], preds)
    assert result.duplicate_predictions == ["/photos/a.jpg"]
    assert result.size_mismatches == ["/photos/a.jpg"]
    assert result.skipped_predictions == [("/photos/b.jpg", "unreadable: truncated file")]
    # Scored in the manifest's 200 x 100 frame, first prediction kept.
    assert result.comparisons[0].iou == pytest.approx(1.0)
    text = result.format_table()
    assert "predicted more than once" in text
    assert "skipped" in text


def test_nothing_matched_raises(known):
    with pytest.raises(EvaluationError, match="nothing matched"):
        evaluate(known["rows"], [prediction_row("/other/x.jpg", 10, 10, Crop.full_frame())])


def test_table_and_json(known):
    result = evaluate(known["rows"], read_predictions(known["predictions"]))
    table = result.format_table()
    for word in ("model", "usual crop", "full frame", "mean IoU", "BDE", "angle MAE"):
        assert word in table
    assert "4 sample(s) of 3 photo(s) matched" in table
    assert "unmatched: 1 prediction(s) (no manifest sample), 1 manifest sample(s)" in table
    data = result.to_dict()
    assert data["model"]["iou_mean"] == pytest.approx(np.mean(EXPECTED_IOUS))
    assert data["baselines"]["full_frame"]["count"] == 4
    assert len(data["per_sample"]) == 4
    assert data["unmatched_samples"] == ["/photos/d.jpg"]


def test_split_matches_training_split(tmp_path):
    from cropperhead.data.datamodule import split_samples

    rows, preds = [], []
    for i in range(40):
        source = f"/lib/p{i:02d}.jpg"
        crop = Crop(0.1 + 0.002 * i, 0.1, 0.9, 0.9)
        rows.append(manifest_row(f"images/{i}.jpg", source, 300, 200, crop))
        preds.append(prediction_row(source, 300, 200, crop))
    write_jsonl(tmp_path / "manifest.jsonl", rows)
    samples = read_manifest(tmp_path)
    splits = split_samples(samples, 7, 0.2, 0.2)
    result = evaluate_split(samples, preds, "test", seed=7, val_fraction=0.2, test_fraction=0.2)
    assert {c.source for c in result.comparisons} == {s.source for s in splits["test"]}
    assert result.outside_split == 40 - len(splits["test"])
    assert result.unmatched_predictions == []
    assert result.usual == Crop(*usual_crop(splits["train"]))
    assert result.model.iou_mean == pytest.approx(1.0)
    with pytest.raises(ValueError, match="split"):
        evaluate_split(samples, preds, "holdout")


def test_default_split_is_data_librarys_and_an_empty_split_says_why(tmp_path, capsys):
    from cropperhead.cli import main
    from cropperhead.data.datamodule import split_samples

    rows, preds = [], []
    for i in range(40):
        source = f"/lib/p{i:02d}.jpg"
        rows.append(manifest_row(f"images/{i}.jpg", source, 300, 200, Crop(0.1, 0.1, 0.9, 0.9)))
        preds.append(prediction_row(source, 300, 200, Crop(0.1, 0.1, 0.9, 0.9)))
    write_jsonl(tmp_path / "manifest.jsonl", rows)
    samples = read_manifest(tmp_path)
    val = evaluate_split(samples, preds, "val", seed=5)
    expected = split_samples(samples, 5, 0.15, 0.0)
    assert {c.source for c in val.comparisons} == {s.source for s in expected["val"]}
    assert val.usual_samples == len(expected["train"])
    # data=library holds nothing back for testing: --split test says so, not "no match".
    with pytest.raises(EvaluationError, match="test_fraction=0.*--split val"):
        evaluate_split(samples, preds, "test", seed=5)
    held = evaluate_split(samples, preds, "test", seed=5, test_fraction=0.15)
    assert held.matched_samples == len(split_samples(samples, 5, 0.15, 0.15)["test"]) > 0
    predictions = write_jsonl(tmp_path / "preds.jsonl", preds)
    argv = ["evaluate", "--manifest", str(tmp_path), "--predictions", str(predictions)]
    assert main([*argv, "--split", "test", "--split-seed", "5"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "split test is empty" in err
    assert main([*argv, "--split", "test", "--split-seed", "5", "--test-fraction", "0.15"]) == 0


def test_malformed_manifest_dict_is_a_value_error():
    with pytest.raises(ValueError, match="malformed manifest row"):
        evaluate([{"source": "/a.jpg"}], [])


# --------------------------------------------------------------------------- aspect accuracy


def test_aspect_accuracy_of_model_and_baselines(known):
    rows, preds = known["rows"], read_predictions(known["predictions"])
    result = evaluate(rows, preds, usual=Crop(0.25, 0.25, 0.75, 0.75))
    # Every suggestion has its target's square output (a: 100 x 100 of 200 x 100; b: two
    # turned squares; c: the upper square, against both virtual copies' squares).
    assert result.model.aspect_accuracy == pytest.approx(1.0)
    assert [c.aspect_match for c in result.comparisons] == [True] * 4
    # Full frame: 2:1, 1:1, 1:2, 1:2 against four squares; the usual crop's output is a
    # quarter of the frame and so has the photo's aspect too.
    assert result.full_frame.aspect_accuracy == pytest.approx(0.25)
    assert result.usual_crop.aspect_accuracy == pytest.approx(0.25)
    assert "aspect" in result.format_table().splitlines()[2]
    assert result.to_dict()["model"]["aspect_accuracy"] == pytest.approx(1.0)


# --------------------------------------------------------------------------- usual crop from


def _usual_from_dataset(tmp_path):
    """A training data set whose crops are all X, a test manifest cropped Y, predictions Y."""
    x, y = Crop(0.25, 0, 0.75, 1), Crop(0, 0, 0.5, 1)
    train_rows = [
        manifest_row(f"images/{i}.jpg", f"/train/p{i:02d}.jpg", 200, 100, x) for i in range(30)
    ]
    train = write_jsonl(tmp_path / "train_ds" / "manifest.jsonl", train_rows)
    test_rows = [manifest_row(f"images/{i}.jpg", f"/test/q{i}.jpg", 200, 100, y) for i in range(4)]
    test = write_jsonl(tmp_path / "test_ds" / "manifest.jsonl", test_rows)
    preds = [prediction_row(f"/test/q{i}.jpg", 200, 100, y) for i in range(4)]
    predictions = write_jsonl(tmp_path / "preds.jsonl", preds)
    return train, test, predictions, x, y


def test_usual_crop_from_another_training_split(tmp_path):
    from cropperhead.data.datamodule import split_samples
    from cropperhead.report.baselines import training_usual_crop

    train, test, predictions, x, y = _usual_from_dataset(tmp_path)
    samples = load_samples(train)
    usual, count = training_usual_crop(samples, seed=3)
    assert usual == x
    # By default, split as data=library splits: 15% validation, no test photos.
    assert count == len(split_samples(samples, 3, 0.15, 0.0)["train"]) < 30
    assert count > len(split_samples(samples, 3, 0.15, 0.15)["train"])
    result = evaluate(load_samples(test), read_predictions(predictions), usual, "DS", count)
    assert result.usual == x
    assert result.usual_crop.iou_mean == pytest.approx(1 / 3)  # half vs middle half
    assert result.to_dict()["usual_crop_from"] == "DS"
    assert result.to_dict()["usual_crop_samples"] == count
    # Default: the evaluated manifest's own median, which here is its every crop.
    assert evaluate(load_samples(test), read_predictions(predictions)).usual == y


def test_usual_crop_from_on_the_command_line(tmp_path, capsys):
    from cropperhead.cli import main

    train, test, predictions, x, y = _usual_from_dataset(tmp_path)
    argv = ["evaluate", "--manifest", str(test), "--predictions", str(predictions), "--json"]
    assert main([*argv, "--usual-crop-from", str(train.parent), "--split-seed", "3"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["usual_crop"] == x.to_dict()
    assert data["baselines"]["usual_crop"]["iou_mean"] == pytest.approx(1 / 3)
    assert "seed 3" in data["usual_crop_from"]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["usual_crop"] == y.to_dict()
    assert data["usual_crop_from"] is None
    assert main([*argv[:-1], "--usual-crop-from", str(train)]) == 0
    assert "usual crop: median of" in capsys.readouterr().out
    status = main([*argv, "--usual-crop-from", str(tmp_path / "nowhere")])
    err = capsys.readouterr().err
    assert status == 2
    assert len(err.strip().splitlines()) == 1
    assert "no manifest" in err


# --------------------------------------------------------------------------- crop or leave

HALF, MIDDLE = Crop(0, 0, 0.5, 1), Crop(0.25, 0, 0.75, 1)
# source: (label, prediction record's extra keys, prediction crop, effective IoU)
DECISIONS = {
    "/d/s1.jpg": (Crop.full_frame(), {"p_crop": 0.2, "leave_uncropped": True}, MIDDLE, 1.0),
    "/d/s2.jpg": (Crop.full_frame(), {"p_crop": 0.7}, HALF, 0.5),  # crops, should not
    "/d/s3.jpg": (HALF, {"p_crop": 0.9, "leave_uncropped": False}, HALF, 1.0),
    "/d/s4.jpg": (HALF, {"p_crop": 0.1, "leave_uncropped": True}, HALF, 0.5),  # should crop
    "/d/s5.jpg": (HALF, {"p_crop": 0.8}, HALF, 1.0),
    "/d/s6.jpg": (HALF, {"p_crop": 0.3, "leave_uncropped": True}, HALF, 0.5),  # should crop
}


def _decision_files(tmp_path):
    rows, preds = [], []
    for i, (source, (label, keys, crop, _)) in enumerate(DECISIONS.items()):
        rows.append(manifest_row(f"images/{i}.jpg", source, 200, 100, label))
        preds.append({**prediction_row(source, 200, 100, crop), **keys})
    manifest = write_jsonl(tmp_path / "ds" / "manifest.jsonl", rows)
    return manifest, write_jsonl(tmp_path / "preds.jsonl", preds)


def test_crop_or_leave_scores_the_effective_crop_and_the_decision(tmp_path):
    from cropperhead.report.predictions import read_suggestions

    manifest, predictions = _decision_files(tmp_path)
    result = evaluate(load_samples(manifest), read_suggestions(predictions))
    assert [c.iou for c in result.comparisons] == pytest.approx([v[3] for v in DECISIONS.values()])
    assert result.model.iou_mean == pytest.approx(0.75)
    assert result.comparisons[0].predicted == Crop.full_frame()
    assert result.comparisons[0].suggested == MIDDLE
    assert result.decisions_scored
    assert result.left_uncropped == 2
    # TP s3 s5, FP s2, FN s4 s6, TN s1.
    assert result.model.crop_accuracy == pytest.approx(3 / 6)
    assert result.model.crop_precision == pytest.approx(2 / 3)
    assert result.model.crop_recall == pytest.approx(2 / 4)
    # The full frame never crops; the usual crop (the median, HALF) always does.
    assert result.usual == HALF
    assert result.full_frame.crop_accuracy == pytest.approx(2 / 6)
    assert math.isnan(result.full_frame.crop_precision)
    assert result.full_frame.crop_recall == 0
    assert result.usual_crop.crop_accuracy == pytest.approx(4 / 6)
    assert result.usual_crop.crop_precision == pytest.approx(4 / 6)
    assert result.usual_crop.crop_recall == 1
    data = result.to_dict()
    assert data["crop_decision"]["left_uncropped"] == 2
    assert data["crop_decision"]["model"] == pytest.approx(
        {"accuracy": 0.5, "precision": 2 / 3, "recall": 0.5}
    )
    assert data["crop_decision"]["full_frame"]["precision"] is None
    assert data["per_sample"][0]["leave_uncropped"] is True
    assert data["per_sample"][0]["p_crop"] == 0.2
    assert "crop or leave: 2 of 6 sample(s) left uncropped" in result.format_table()


def test_plain_dicts_carry_the_decision_too(tmp_path):
    manifest, predictions = _decision_files(tmp_path)
    records = [json.loads(line) for line in predictions.read_text().splitlines()]
    assert evaluate(load_samples(manifest), records).model.iou_mean == pytest.approx(0.75)


def test_without_decision_keys_nothing_changes(known):
    result = evaluate(known["rows"], read_predictions(known["predictions"]))
    assert not result.decisions_scored
    assert math.isnan(result.model.crop_accuracy)
    assert result.to_dict()["crop_decision"] is None
    assert "crop or leave" not in result.format_table()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('"p_crop": 1.5', "'p_crop' must be a number in \\[0, 1\\], got 1.5"),
        ('"p_crop": "high"', "'p_crop' must be a number"),
        ('"p_crop": true', "'p_crop' must be a number"),
        ('"leave_uncropped": "yes"', "'leave_uncropped' must be true or false"),
    ],
)
def test_bad_decision_keys_name_the_line(tmp_path, capsys, extra, message):
    from cropperhead.cli import main
    from cropperhead.report.predictions import read_suggestions

    manifest, predictions = _decision_files(tmp_path)
    good = predictions.read_text()
    bad = prediction_row("/d/s1.jpg", 200, 100, HALF)
    line = json.dumps(bad)[:-1] + ", " + extra + "}"
    predictions.write_text(good + "\n" + line + "\n")
    with pytest.raises(ReportError, match=rf"preds\.jsonl:8: malformed prediction .*{message}"):
        read_suggestions(predictions)
    argv = ["evaluate", "--manifest", str(manifest), "--predictions", str(predictions)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "preds.jsonl:8" in err


# --------------------------------------------------------------------------- confidence


def test_confidence_rank_correlation_with_iou(known):
    # Confidences 0.1, 0.2, 0.3, 0.3 (ranks 1, 2, 3.5, 3.5) against IoUs 1/3, 0.71, 1, 0
    # (ranks 2, 3, 4, 1): centred ranks (-1.5, -0.5, 1, 1) and (-0.5, 0.5, 1.5, -1.5),
    # rho = 0.5 / sqrt(4.5 * 5).
    result = evaluate(known["rows"], read_predictions(known["predictions"]))
    assert result.confidence_count == 4
    assert result.confidence_spearman == pytest.approx(0.5 / math.sqrt(22.5))
    assert result.to_dict()["confidence"] == {
        "samples": 4,
        "spearman_iou": pytest.approx(0.5 / math.sqrt(22.5)),
    }
    assert "Spearman rank correlation 0.105 over 4 sample(s)" in result.format_table()


def test_no_confidence_no_correlation(known):
    preds = [prediction_row("/photos/a.jpg", 200, 100, Crop(0.25, 0, 0.75, 1))]
    result = evaluate(known["rows"], preds)
    assert result.confidence_count == 0
    assert result.to_dict()["confidence"] is None
    assert "Spearman" not in result.format_table()
