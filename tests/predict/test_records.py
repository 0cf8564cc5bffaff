"""cropperhead.predict.records: the predictions file's records, JSONL and CSV."""

import csv
import io
import json
from pathlib import Path

import pytest

from cropperhead.geometry import Crop
from cropperhead.predict.loaders import load_crop_model
from cropperhead.predict.predictor import Prediction, Predictor
from cropperhead.predict.records import (
    RecordWriter,
    flat_record,
    is_predictions_file,
    prediction_record,
    suggestion_confidence,
)

#: A prediction whose crop grazes the frame (Crop allows 1e-6 of slack) and has extras.
GRAZING = Prediction(
    0,
    Path("/photos/a.jpg"),
    300,
    200,
    6,
    Crop(-5e-7, 0.123456789012, 1 + 5e-7, 0.9, -2.5),
    confidence=0.5,
    p_crop=0.25,
    quality=0.75,
)


def test_prediction_record_matches_the_crop_contract(photo_dir, tiny_ckpt):
    model = load_crop_model(tiny_ckpt, device="cpu")
    (result,) = Predictor(model, num_workers=0, confidence=True).predict([photo_dir / "b.jpg"])
    record = json.loads(json.dumps(prediction_record(result, result.crop)))
    assert set(record) >= {"source", "width", "height", "crop", "corners", "confidence"}
    assert isinstance(record["width"], int)
    assert isinstance(record["height"], int)
    assert set(record["crop"]) == {"left", "top", "right", "bottom", "angle"}
    assert len(record["corners"]) == 4
    assert all(len(c) == 2 for c in record["corners"])


def test_records_are_rounded_and_their_corners_clipped():
    """The exact text predict wrote before the record code moved (9 decimals, corners in [0, 1])."""
    record = prediction_record(GRAZING, GRAZING.crop)
    assert json.dumps(record) == (
        '{"source": "/photos/a.jpg", "width": 300, "height": 200, "crop": {"left": -5e-07, '
        '"top": 0.123456789, "right": 1.0000005, "bottom": 0.9, "angle": -2.5}, "corners": '
        "[[0.0, 0.123456789], [0.97553778, 0.059567407], [1.0, 0.9], [0.02446222, "
        '0.963889382]], "orientation": 6, "lightroom": {"CropLeft": 0.059567407, "CropTop": '
        '0.02446222, "CropRight": 0.963889382, "CropBottom": 0.97553778, "CropAngle": -2.5, '
        '"orientation": "BC"}, "confidence": 0.955359, "mirror_agreement": 0.5, "p_crop": 0.25, '
        '"leave_uncropped": true}'
    )
    locked = prediction_record(GRAZING, Crop(0.1, 0.2, 0.7, 0.9, 3.0), "3:2")
    assert locked["corners"] == [
        [0.1, 0.2],
        [0.722746543, 0.248955145],
        [0.7, 0.9],
        [0.077253457, 0.851044855],
    ]
    assert locked["aspect"] == "3:2"
    assert locked["model_crop"] == record["crop"]
    row = flat_record(locked)
    assert (row["tr_x"], row["tr_y"], row["model_left"], row["aspect"]) == (
        0.722746543,
        0.248955145,
        -5e-07,
        "3:2",
    )


#: A level crop of half the photo's width and the full height: half its area.
HALF = Crop(0.25, 0.0, 0.75, 1.0, 0.0)


@pytest.mark.parametrize(
    ("p_crop", "quality", "agreement", "threshold", "expected"),
    [
        (None, 0.6, 0.9, 0.5, 0.6),  # no decision learnt: the quality head
        (1.0, 0.6, 0.9, 0.5, 0.6),  # certain to crop: the same
        (0.8, 0.6, None, 0.5, 0.8 * 0.6 + 0.2 * 0.5),  # crop; else the full frame's IoU 0.5
        (0.2, 0.6, None, 0.5, 0.2 * 0.5 + 0.8),  # leave: right with 0.8, else 0.5
        (0.2, 0.6, None, 0.1, 0.2 * 0.6 + 0.8 * 0.5),  # under a lower threshold it crops
        (None, None, 0.9, 0.5, 0.9),  # no quality head: the mirror agreement
        (None, None, None, 0.5, None),
    ],
)
def test_confidence_is_the_expected_iou_of_what_the_record_suggests(
    p_crop, quality, agreement, threshold, expected
):
    pred = Prediction(
        0, Path("/p.jpg"), 400, 300, 1, HALF, confidence=agreement, p_crop=p_crop, quality=quality
    )
    got = suggestion_confidence(pred, threshold)
    assert got == expected if expected is None else got == pytest.approx(expected, abs=1e-12)
    record = prediction_record(pred, HALF, crop_threshold=threshold)
    assert record.get("confidence") == (None if expected is None else round(expected, 6))
    assert ("leave_uncropped" in record) == (p_crop is not None and p_crop < threshold)


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_written_records_are_recognised_as_ours(fmt, tmp_path):
    record = prediction_record(GRAZING, GRAZING.crop)
    columns = list(flat_record(record))
    path = tmp_path / f"p.{fmt}"
    with path.open("w", newline="") as handle:
        RecordWriter(handle, fmt, columns).write(record)
    assert is_predictions_file(path)
    if fmt == "csv":
        (row,) = csv.DictReader(io.StringIO(path.read_text()))
        assert float(row["tl_x"]) == 0.0
    else:
        assert json.loads(path.read_text()) == record
    notes = tmp_path / "notes.txt"
    notes.write_text("source,width\n")
    assert not is_predictions_file(notes)
