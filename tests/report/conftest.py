"""Hand-made manifests and predictions whose scores are known by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from PIL import Image

from cropperhead.geometry import Crop, CropFrame, crop_to_corners, frame_to_crop

# Two squares of the same size and centre, turned 45 degrees apart: their intersection
# is a regular octagon and IoU = 1 / sqrt(2).
TURNED_TARGET = frame_to_crop(CropFrame(50, 50, 20, 20, 20.0), 100, 100)
TURNED_PRED = frame_to_crop(CropFrame(50, 50, 20, 20, -25.0), 100, 100)

# source: (width, height, [target crops], predicted crop or None)
CASES = {
    # Half the photo vs the middle half: 5000 px overlap of 15000 -> 1/3.
    "/photos/a.jpg": (200, 100, [Crop(0, 0, 0.5, 1)], Crop(0.25, 0, 0.75, 1)),
    "/photos/b.jpg": (100, 100, [TURNED_TARGET], TURNED_PRED),
    # Two virtual copies: the prediction is the first exactly, misses the second.
    "/photos/c.jpg": (100, 200, [Crop(0, 0, 1, 0.5), Crop(0, 0.5, 1, 1)], Crop(0, 0, 1, 0.5)),
    # In the manifest only.
    "/photos/d.jpg": (100, 100, [Crop(0.2, 0.2, 0.8, 0.8)], None),
}
# Predicted only.
EXTRA_PREDICTION = ("/photos/elsewhere.jpg", 100, 100, Crop(0.1, 0.1, 0.9, 0.9))

EXPECTED_IOUS = [1 / 3, 1 / math.sqrt(2), 1.0, 0.0]
# Full frame vs each matched target: a half, a 40 x 40 square of 100 x 100, two halves.
EXPECTED_FULL_FRAME_IOUS = [0.5, 0.16, 0.5, 0.5]


def manifest_row(image: str, source: str, w: int, h: int, crop: Crop) -> dict:
    return {
        "image": image,
        "source": source,
        "width": w,
        "height": h,
        "crop": crop.to_dict(),
        "corners": crop_to_corners(crop).tolist(),
        "origin": "xmp-sidecar",
        "extra": {},
    }


def prediction_row(source: str, w: int, h: int, crop: Crop, confidence=None) -> dict:
    row = {
        "source": source,
        "width": w,
        "height": h,
        "crop": crop.to_dict(),
        "corners": crop_to_corners(crop).tolist(),
    }
    if confidence is not None:
        row["confidence"] = confidence
    return row


def write_jsonl(path: Path, rows: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def known(tmp_path: Path) -> dict:
    """DATASET/manifest.jsonl (with tiny images) and predictions.jsonl for CASES."""
    dataset = tmp_path / "dataset"
    (dataset / "images").mkdir(parents=True)
    rows, preds = [], []
    for i, (source, (w, h, targets, pred)) in enumerate(CASES.items()):
        for j, crop in enumerate(targets):
            image = f"images/{i}_{j}.jpg"
            Image.new("RGB", (w // 4, h // 4), (90, 120, 150)).save(dataset / image)
            rows.append(manifest_row(image, source, w, h, crop))
        if pred is not None:
            preds.append(prediction_row(source, w, h, pred, confidence=0.1 * (i + 1)))
    preds.append(prediction_row(*EXTRA_PREDICTION))
    manifest = write_jsonl(dataset / "manifest.jsonl", rows)
    predictions = write_jsonl(tmp_path / "predictions.jsonl", preds)
    return {"dataset": dataset, "manifest": manifest, "predictions": predictions, "rows": rows}
