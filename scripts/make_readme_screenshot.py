"""Make docs/images/report.png, the README's picture of ``cropperhead report``.

An illustration, not a result: the photos come from the built-in demo library
(:func:`cropperhead.data.demo.generate_demo_library`), are scanned with the real scanner,
and the "predictions" are made up by nudging each photographer's crop at random (centre,
size and angle), a few of them a lot. The report is then rendered by headless Chromium.

    python -m scripts.make_readme_screenshot [--out docs/images/report.png] [--photos 10]

(from the repository root: it uses the test suite's Chromium driver, tests/report/browser.py).

Needs a Chromium (``apt-get install -y chromium``) and writes a palette PNG under 300 KB.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from cropperhead.data.demo import generate_demo_library
from cropperhead.geometry import (
    Crop,
    CropFrame,
    crop_is_inside,
    crop_to_corners,
    crop_to_frame,
    frame_to_crop,
)
from cropperhead.report.html import write_report
from cropperhead.scan import scan_library
from tests.report.browser import page_url, screenshot

MAX_BYTES = 300_000


def nudge(crop: Crop, width: int, height: int, strength: float, rng: np.random.Generator) -> Crop:
    """A made-up suggestion near ``crop``: centre, size and angle moved at random."""
    f = crop_to_frame(crop, width, height)
    for _ in range(50):
        frame = CropFrame(
            f.cx_px + rng.normal(0, strength * 0.05) * width,
            f.cy_px + rng.normal(0, strength * 0.05) * height,
            f.half_width_px * math.exp(rng.normal(0, strength * 0.06)),
            f.half_height_px * math.exp(rng.normal(0, strength * 0.06)),
            float(np.clip(f.angle_deg + rng.normal(0, strength * 1.5), -44, 44)),
        )
        try:
            moved = frame_to_crop(frame, width, height)
        except ValueError:
            continue
        if crop_is_inside(moved, width, height):
            return moved
        strength *= 0.8
    return crop


def make_predictions(manifest: Path, out: Path, n_photos: int, seed: int) -> None:
    """Write made-up predictions for the first ``n_photos`` photos of a manifest."""
    rng = np.random.default_rng(seed)
    rows = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    lines = []
    for i, row in enumerate(rows[:n_photos]):
        w, h = row["width"], row["height"]
        strength = 4.0 if i % 4 == 3 else 1.0
        crop = nudge(Crop.from_dict(row["crop"]), w, h, strength, rng)
        confidence = float(np.clip(rng.normal(0.85 if strength == 1 else 0.5, 0.08), 0, 1))
        lines.append(
            {
                "source": row["source"],
                "width": w,
                "height": h,
                "crop": crop.to_dict(),
                "corners": crop_to_corners(crop).tolist(),
                "confidence": round(confidence, 3),
            }
        )
    out.write_text("".join(json.dumps(line) + "\n" for line in lines))


def shrink_png(path: Path, max_bytes: int = MAX_BYTES) -> int:
    """Re-save a screenshot as a palette PNG (fewer colours until it fits); returns bytes."""
    with Image.open(path) as im:
        picture = im.convert("RGB")
    for colours in (256, 128, 64):
        picture.quantize(colours, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
        if path.stat().st_size <= max_bytes:
            break
    return path.stat().st_size


def main(argv: list[str] | None = None) -> int:
    """Generate the demo photos, predictions, report and screenshot."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/images/report.png"))
    parser.add_argument("--photos", type=int, default=10)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=710)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", type=Path, default=None, help="also keep the HTML here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cropperhead-shot-") as tmp:
        library, dataset = Path(tmp) / "demo-photos", Path(tmp) / "dataset"
        generate_demo_library(library, n_photos=args.photos + 4, seed=args.seed)
        scan_library([library], dataset, size=256, workers=1, progress=False)
        predictions = Path(tmp) / "predictions.jsonl"
        make_predictions(dataset / "manifest.jsonl", predictions, args.photos, args.seed)
        page = write_report(predictions, Path(tmp) / "report.html", dataset, thumb_size=232)
        if args.keep is not None:
            args.keep.write_bytes(page.read_bytes())
        screenshot(page_url(page, "sort=iou-desc"), args.out, args.width, args.height)
    size = shrink_png(args.out)
    print(f"wrote {args.out} ({size / 1000:.0f} KB)")
    return 0 if size <= MAX_BYTES else 1


if __name__ == "__main__":
    sys.exit(main())
