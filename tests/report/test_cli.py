import json

import numpy as np
import pytest

from cropperhead.cli import main
from tests.report.conftest import EXPECTED_IOUS


def test_evaluate_prints_the_table(known, capsys):
    status = main(
        [
            "evaluate",
            "--manifest",
            str(known["manifest"]),
            "--predictions",
            str(known["predictions"]),
        ]
    )
    out = capsys.readouterr().out
    assert status == 0
    assert f"{np.mean(EXPECTED_IOUS):.3f}" in out.splitlines()[3]  # the model row
    assert "usual crop" in out
    assert "full frame" in out


def test_evaluate_json(known, capsys):
    argv = ["evaluate", "--manifest", str(known["dataset"]), "--predictions"]
    assert main([*argv, str(known["predictions"]), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["model"]["iou_mean"] == pytest.approx(np.mean(EXPECTED_IOUS))
    assert data["matched_samples"] == 4
    assert data["split"] == "all"


@pytest.mark.parametrize("problem", ["missing", "malformed", "unmatched", "bad-manifest"])
def test_evaluate_errors_are_one_line_exit_2(known, capsys, problem):
    manifest, predictions = known["manifest"], known["predictions"]
    if problem == "missing":
        predictions = predictions.with_name("missing.jsonl")
    elif problem == "malformed":
        predictions.write_text(predictions.read_text() + "{oops\n")
    elif problem == "unmatched":
        predictions.write_text(
            '{"source": "/x.jpg", "width": 5, "height": 5, "crop": '
            '{"left": 0, "top": 0, "right": 1, "bottom": 1, "angle": 0}}\n'
        )
    else:
        manifest.write_text(manifest.read_text() + '{"image": "x.jpg"}\n')
    status = main(["evaluate", "--manifest", str(manifest), "--predictions", str(predictions)])
    err = capsys.readouterr().err
    assert status == 2
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("cropperhead evaluate: error: ")
    assert "Traceback" not in err
    expected = {
        "missing": "no predictions file",
        "malformed": "predictions.jsonl:5: malformed prediction",
        "unmatched": "nothing matched",
        "bad-manifest": "manifest.jsonl:6: malformed manifest line",
    }[problem]
    assert expected in err


def test_evaluate_wrong_command_line_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "--predictions", "p.jsonl"])
    assert exc.value.code == 2
    assert "--manifest" in capsys.readouterr().err


def test_report_command(known, tmp_path, capsys):
    out = tmp_path / "r" / "report.html"
    argv = ["report", str(known["predictions"]), "--out", str(out)]
    assert main([*argv, "--manifest", str(known["manifest"]), "--thumb-size", "64"]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    assert out.read_text().count('<figure class="card') == 4
    assert main(["report", str(tmp_path / "none.jsonl")]) == 2
    assert "no predictions file" in capsys.readouterr().err
    assert main([*argv, "--thumb-size", "5"]) == 2


def test_stats_command(known, tmp_path, capsys):
    png = tmp_path / "habit.png"
    assert main(["stats", str(known["dataset"]), "--out", str(png)]) == 0
    out = capsys.readouterr().out
    assert "5 crop(s) of 4 photo(s)" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["stats", str(known["dataset"]), "--json", "--no-plot"]) == 0
    assert json.loads(capsys.readouterr().out)["count"] == 5
    assert main(["stats", str(tmp_path / "empty")]) == 2
    assert "no manifest" in capsys.readouterr().err


def test_report_and_stats_refuse_files_that_are_not_theirs(known, tmp_path, capsys):
    from cropperhead.cli import main

    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    for argv in (
        ["report", str(known["predictions"]), "--out", str(notes)],
        ["stats", str(known["dataset"]), "--out", str(notes)],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1
        assert "--overwrite" in err[0]
        assert notes.read_text() == "mine"
        assert main([*argv, "--overwrite"]) == 0
        notes.write_text("mine")
