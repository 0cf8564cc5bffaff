"""Slow: the real demo library, scanned, then evaluated, reported and described."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from cropperhead.cli import main
from cropperhead.data.demo import generate_demo_library
from cropperhead.scan import scan_library
from tests.report.browser import find_browser

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_demo_library_evaluate_report_stats(tmp_path, capsys):
    library, dataset = tmp_path / "photos", tmp_path / "dataset"
    generate_demo_library(library, n_photos=16, seed=3)
    scan_library([library], dataset, size=128, workers=1, progress=False)
    rows = [json.loads(line) for line in (dataset / "manifest.jsonl").read_text().splitlines()]
    # A perfect predictor: the photographer's own crops.
    keys = ("source", "width", "height", "crop", "corners")
    preds = tmp_path / "preds.jsonl"
    preds.write_text("".join(json.dumps({k: r[k] for k in keys}) + "\n" for r in rows))

    assert (
        main(["evaluate", "--manifest", str(dataset), "--predictions", str(preds), "--json"]) == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["matched_samples"] == len(rows)
    assert data["model"]["iou_mean"] == pytest.approx(1.0)
    assert data["baselines"]["usual_crop"]["iou_mean"] < 0.95

    out = tmp_path / "report.html"
    assert main(["report", str(preds), "--out", str(out), "--manifest", str(dataset)]) == 0
    page = out.read_text()
    assert page.count('<figure class="card"') == len(rows)  # every photo readable
    assert "shown from the data set" not in page

    assert main(["stats", str(dataset), "--out", str(tmp_path / "s.png")]) == 0
    assert f"{len(rows)} crop(s) of {len(rows)} photo(s)" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.skipif(find_browser() is None, reason="no headless browser installed")
def test_readme_screenshot_script(tmp_path):
    out = tmp_path / "report.png"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "scripts.make_readme_screenshot",
            "--out",
            str(out),
            "--photos",
            "5",
        ],
        check=True,
        capture_output=True,
        timeout=300,
        cwd=REPO,
    )
    assert out.stat().st_size < 300_000
    with Image.open(out) as im:
        assert im.size == (1280, 710)
