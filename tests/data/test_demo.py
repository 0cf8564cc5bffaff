"""The demo library goes through the real scanner and comes out with the right labels."""

import json
from pathlib import Path

import numpy as np
import pytest

from cropperhead.data.demo import demo_dataset_path, ensure_demo_dataset, generate_demo_library
from cropperhead.data.manifest import DatasetError
from cropperhead.scan import scan_library
from tests.helpers import assert_untouched, plant_user_files


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
    cache = tmp_path / "cache"
    root = ensure_demo_dataset(cache, n_photos=6, size=64)
    assert root == demo_dataset_path(cache)
    assert root.parent.parent == cache
    manifest = root / "manifest.jsonl"
    first = manifest.stat().st_mtime_ns
    ensure_demo_dataset(cache, n_photos=6, size=64)
    assert manifest.stat().st_mtime_ns == first
    assert not [p for p in root.parent.iterdir() if p.name.startswith(".demo-build-")]
    assert len(manifest.read_text().splitlines()) >= 5


def test_demo_touches_nothing_beside_its_own_folder(tmp_path):
    """The cache folder may hold the user's things: a library/ and a dataset/ of theirs."""
    cache = tmp_path / "cache"
    planted = plant_user_files(cache / "library") | plant_user_files(cache / "dataset")
    planted |= plant_user_files(cache)
    ensure_demo_dataset(cache, n_photos=6, size=64)
    # Rebuilding (another photo count) replaces the demo's own folders only.
    ensure_demo_dataset(cache, n_photos=7, size=64)
    assert_untouched(planted)
    assert sorted(p.name for p in cache.iterdir() if p.name.startswith("demo-")) == [
        demo_dataset_path(cache).parent.name
    ]


def test_an_unmarked_demo_folder_is_refused_not_replaced(tmp_path):
    cache = tmp_path / "cache"
    folder = demo_dataset_path(cache).parent
    planted = plant_user_files(folder / "dataset")
    with pytest.raises(DatasetError, match="not made by CropperHead"):
        ensure_demo_dataset(cache, n_photos=6, size=64)
    assert_untouched(planted)
