"""cropperhead.report.predictions: reading predictions files and manifests."""

import pytest

from cropperhead.report.predictions import (
    ReportError,
    load_samples,
    prediction_from_dict,
    read_predictions,
)


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
