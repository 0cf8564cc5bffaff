"""Small generated data for tests: a scanned-style training set without the scanner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from cropperhead.geometry import Crop, crop_to_corners, largest_crop
from cropperhead.scan.manifest import manifest_record


def make_tiny_dataset(
    root: Path, n: int = 12, seed: int = 0, size: tuple[int, int] = (96, 64)
) -> Path:
    """Write ``n`` photos with a bright square and a manifest whose crop frames it.

    The crop's centre follows the square, its angle follows the square's row, so a model
    can learn it. Returns ``root``.
    """
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(n):
        w, h = size if i % 3 else size[::-1]
        img = np.full((h, w, 3), 60, np.uint8)
        img[:, :, 2] = np.linspace(40, 200, w, dtype=np.uint8)[None, :]
        cx, cy = rng.uniform(0.35, 0.65) * w, rng.uniform(0.35, 0.65) * h
        r = max(2, int(0.08 * min(w, h)))
        img[int(cy) - r : int(cy) + r, int(cx) - r : int(cx) + r] = (250, 40, 40)
        angle = float(np.interp(cy / h, [0.35, 0.65], [-6, 6]))
        crop = largest_crop(w, h, w / h * 0.9, angle, (cx, cy))
        arr = crop.as_array()
        mid = (arr[:2] + arr[2:4]) / 2
        lt, rb = mid + 0.8 * (arr[:2] - mid), mid + 0.8 * (arr[2:4] - mid)
        crop = Crop(lt[0], lt[1], rb[0], rb[1], angle)
        name = f"images/tiny_{i:03d}.jpg"
        Image.fromarray(img).save(root / name, quality=95)
        corners = crop_to_corners(crop).tolist()
        source = f"/photos/tiny_{i:03d}.jpg"
        lines.append(
            manifest_record(
                name, source, w * 10, h * 10, crop.to_dict(), corners, "xmp-sidecar", {}
            )
        )
    (root / "manifest.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return root


REPO_ROOT = Path(__file__).resolve().parents[1]


def run_train_py(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    """Run ``python train.py ARGS`` offline with its cache under ``tmp_path``; must succeed."""
    env = {**os.environ, "WANDB_MODE": "offline", "CROPPERHEAD_CACHE_DIR": str(tmp_path / "c")}
    out = subprocess.run(
        [sys.executable, "train.py", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    assert "litlogger" not in out.stdout + out.stderr  # Lightning's advertisement is dropped
    return out


# --------------------------------------------------------------------------- the user's files


def _photo_bytes(seed: int) -> bytes:
    """A small real JPEG (distinct per seed), as a photographer's file would be."""
    import io

    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


def plant_user_files(folder: Path, names: list[str] | None = None) -> dict[Path, bytes]:
    """Write files a user might keep in or beside a folder the program writes to.

    Args:
        folder: where to plant them (created).
        names: relative paths to plant; by default a photo, a sidecar-like text, a note,
            a JPEG whose name looks like one of the scan's images and a hidden file.

    Returns:
        Every planted path with its bytes, for :func:`assert_untouched`.
    """
    names = names or [
        "my_photo.jpg",
        "my_photo.xmp",
        "notes.txt",
        "images/holiday_0123456789abcdef.jpg",
        "IMG_20230815_1234567890123456.jpg",
        ".hidden",
    ]
    planted: dict[Path, bytes] = {}
    for i, name in enumerate(names):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = _photo_bytes(i) if name.endswith(".jpg") else f"user data {i} {name}\n".encode()
        path.write_bytes(data)
        planted[path] = data
    return planted


def assert_untouched(planted: dict[Path, bytes]) -> None:
    """Every planted file is still there with exactly its bytes."""
    for path, data in planted.items():
        assert path.is_file(), f"{path} is gone"
        assert path.read_bytes() == data, f"{path} was changed"


def bayer_dng_tags(width: int, height: int, orientation: int = 1):
    """pidng tags of a 16-bit RGGB Bayer DNG with identity colour, as the DNG tests write."""
    from pidng.defs import CalibrationIlluminant, CFAPattern, DNGVersion
    from pidng.defs import PhotometricInterpretation as Photometric
    from pidng.dng import DNGTags, Tag

    identity = [[1, 1], [0, 1], [0, 1], [0, 1], [1, 1], [0, 1], [0, 1], [0, 1], [1, 1]]
    tags = DNGTags()
    for tag, value in (
        (Tag.ImageWidth, width),
        (Tag.ImageLength, height),
        (Tag.TileWidth, width),
        (Tag.TileLength, height),
        (Tag.Orientation, orientation),
        (Tag.PhotometricInterpretation, Photometric.Color_Filter_Array),
        (Tag.SamplesPerPixel, 1),
        (Tag.BitsPerSample, 16),
        (Tag.CFARepeatPatternDim, [2, 2]),
        (Tag.CFAPattern, CFAPattern.RGGB),
        (Tag.BlackLevel, 0),
        (Tag.WhiteLevel, 65535),
        (Tag.ColorMatrix1, identity),
        (Tag.CalibrationIlluminant1, CalibrationIlluminant.D65),
        (Tag.AsShotNeutral, [[1, 1], [1, 1], [1, 1]]),
        (Tag.Make, "CropperHead"),
        (Tag.Model, "Test"),
        (Tag.DNGVersion, DNGVersion.V1_4),
        (Tag.DNGBackwardVersion, DNGVersion.V1_2),
    ):
        tags.set(tag, value)
    return tags
