"""The demo library goes through the real scanner and comes out with the right labels."""

import json
from pathlib import Path

import numpy as np

from cropperhead.data.demo import ensure_demo_dataset, generate_demo_library
from cropperhead.scan import scan_library


def test_scanned_demo_labels_are_the_photographers_crops(tmp_path):
    truth = generate_demo_library(tmp_path / "library", n_photos=24, seed=3)
    scan_library([tmp_path / "library"], tmp_path / "ds", size=128, workers=1, progress=False)
    rows = [
        json.loads(line) for line in (tmp_path / "ds" / "manifest.jsonl").read_text().splitlines()
    ]
    got = {Path(r["source"]).name: r for r in rows}
    expected = {name: crop for name, crop in truth.items() if crop is not None}
    assert set(got) == set(expected)
    for name, crop in expected.items():
        # XMP keeps six decimals: labels survive stored-frame storage and orientation.
        assert np.allclose(list(got[name]["crop"].values()), crop.as_array(), atol=2e-6), name
    origins = {r["origin"] for r in rows}
    assert origins <= {"xmp-sidecar", "xmp-embedded"}


def test_ensure_is_cached_and_atomic(tmp_path):
    root = tmp_path / "demo" / "dataset"
    ensure_demo_dataset(root, n_photos=6, size=64)
    manifest = root / "manifest.jsonl"
    first = manifest.stat().st_mtime_ns
    ensure_demo_dataset(root, n_photos=6, size=64)
    assert manifest.stat().st_mtime_ns == first
    assert not [p for p in root.parent.iterdir() if p.name.startswith(".demo-build-")]
    assert len(manifest.read_text().splitlines()) >= 5
