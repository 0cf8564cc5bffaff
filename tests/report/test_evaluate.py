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
    prediction_from_dict,
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


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "Expecting value"),
        ('{"source": "/a.jpg", "width": 10, "height": 10}', "no 'crop'"),
        ('{"source": "/a.jpg", "width": 0, "height": 10, "crop": {}}', "'width' must be positive"),
        (
            '{"source": "/a.jpg", "width": 10, "height": 10, '
            '"crop": {"left": 0, "top": 0, "right": 2, "bottom": 1}}',
            "right must lie in",
        ),
        (
            '{"source": "/a.jpg", "width": 10, "height": 10, '
            '"crop": {"left": 0, "top": 0, "right": 1, "bottom": 1}, "confidence": "high"}',
            "confidence",
        ),
    ],
)
def test_malformed_prediction_names_the_line(tmp_path, line, message):
    good = '{"source": "/a.jpg", "width": 10, "height": 10, "crop": ' + (
        '{"left": 0, "top": 0, "right": 1, "bottom": 1, "angle": 0}}'
    )
    path = tmp_path / "p.jsonl"
    path.write_text(f"{good}\n\n{line}\n")
    with pytest.raises(ReportError, match=rf"p\.jsonl:3: malformed prediction .*{message}"):
        read_predictions(path)


def test_missing_inputs(tmp_path):
    with pytest.raises(ReportError, match="no predictions file"):
        read_predictions(tmp_path / "nope.jsonl")
    with pytest.raises(ReportError, match="no manifest"):
        load_samples(tmp_path / "nope" / "manifest.jsonl")
    (tmp_path / "other.txt").write_text("x")
    with pytest.raises(ReportError, match="neither"):
        load_samples(tmp_path / "other.txt")


def test_skip_record_keeps_reason():
    pred = prediction_from_dict({"source": "/x.cr2", "error": "unsupported"}, 4)
    assert pred.crop is None
    assert pred.reason == "unsupported"
    assert pred.line == 4


def test_malformed_manifest_dict_is_a_value_error():
    with pytest.raises(ValueError, match="malformed manifest row"):
        evaluate([{"source": "/a.jpg"}], [])
