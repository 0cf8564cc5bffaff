"""The built-in demo library: a synthetic photographer with a consistent habit.

``python train.py`` with no arguments trains on this. On first use it generates a small
photo library (landscapes with a tilted horizon and one subject) together with the
crops a consistent photographer would make:

- straighten the horizon (the crop's angle is the horizon's tilt),
- keep the photo's own aspect ratio and crop tight, at about 55% of the largest such
  crop (a little looser when the subject is big),
- put the subject on the nearest rule-of-thirds intersection.

The crops are written the way Lightroom writes them: stored-frame ``crs:Crop*`` in XMP
sidecars (and embedded XMP for some JPEGs), some photos stored sideways with an EXIF
orientation, a few reviewed and left uncropped. The library is then turned into a
training set by the real ``cropperhead scan`` code path, and cached: the next run
reuses it.
"""

from __future__ import annotations

import logging
import math
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from cropperhead import files
from cropperhead.geometry import (
    Crop,
    CropFrame,
    crop_display_to_stored,
    crop_is_inside,
    frame_to_crop,
    largest_crop,
)

log = logging.getLogger(__name__)

#: Bump when the generator changes, so that caches are rebuilt (in a new folder).
DEMO_VERSION = 4
_DONE = ".demo-complete"
#: What the marker of the demo folder says (:func:`cropperhead.files.mark_folder`).
_KIND = "demo"
#: A build folder untouched for this long was left by an interrupted run.
_STALE_BUILD_S = 3600


def _habit_crop(
    width: int,
    height: int,
    horizon_deg: float,
    subject: tuple[float, float],
    size_frac: float,
    rng: np.random.Generator,
) -> Crop:
    """The photographer's crop of a display-frame photo (see the module docstring)."""
    aspect = width / height
    theta = math.radians(horizon_deg)
    u = np.array([math.cos(theta), math.sin(theta)])
    v = np.array([-math.sin(theta), math.cos(theta)])
    # Half height of the largest centred crop of this aspect and angle.
    c, s = abs(math.cos(theta)), abs(math.sin(theta))
    k = min(width / 2 / (aspect * c + s), height / 2 / (aspect * s + c))
    scale = float(np.clip(rng.normal(0.55, 0.02) + 0.8 * (size_frac - 0.16), 0.4, 0.75))
    subject = np.asarray(subject, dtype=np.float64)
    photo_centre = np.array([width / 2, height / 2])
    # Nearest third: the subject left of centre goes on the left third line, etc.
    side_x = -1.0 if subject[0] < photo_centre[0] else 1.0
    side_y = -1.0 if subject[1] < photo_centre[1] else 1.0
    for _ in range(40):
        q = scale * k
        p = q * aspect
        offset = side_x * (2 * p / 6) * u + side_y * (2 * q / 6) * v
        centre = subject - offset
        frame = CropFrame(centre[0], centre[1], p, q, horizon_deg)
        try:
            crop = frame_to_crop(frame, width, height)
        except ValueError:
            crop = None
        if crop is not None and crop_is_inside(crop, width, height, tol_px=0.0):
            return crop
        # Pull the centre towards the photo's centre, then shrink, until it fits.
        subject = subject + 0.15 * (photo_centre + offset - subject)
        scale *= 0.97
    return largest_crop(width, height, aspect, horizon_deg)


def _render(
    width: int,
    height: int,
    horizon_deg: float,
    horizon_y: float,
    subject: tuple[float, float],
    size_frac: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """A display-frame photo: sky, tilted horizon, textured ground, one subject."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    slope = math.tan(math.radians(horizon_deg))
    line = horizon_y + slope * (xs - width / 2)
    sky_top = rng.uniform([60, 110, 170], [120, 170, 235])
    sky_low = rng.uniform([170, 190, 210], [230, 235, 250])
    ground = rng.uniform([40, 70, 20], [120, 140, 80])
    t = np.clip(ys / max(horizon_y, 1), 0, 1)[..., None]
    sky = sky_top * (1 - t) + sky_low * t
    noise = rng.normal(0, 1, (height // 8 + 1, width // 8 + 1)).astype(np.float32)
    texture = np.kron(noise, np.ones((8, 8), np.float32))[:height, :width, None]
    earth = ground * (0.85 + 0.06 * texture) * (0.8 + 0.4 * (ys / height))[..., None]
    img = np.where((ys < line)[..., None], sky, earth)
    # A few distractors on the ground (stones) that the habit ignores.
    for _ in range(rng.integers(2, 5)):
        cx, cy = rng.uniform(0, width), rng.uniform(horizon_y, height)
        r = rng.uniform(0.01, 0.025) * height
        mask = (xs - cx) ** 2 + ((ys - cy) * 1.6) ** 2 < r**2
        img[mask] = rng.uniform(90, 140)
    # The subject: a figure in a bright colour (body and head), upright.
    sx, sy = subject
    size = size_frac * height
    colour = np.array(rng.choice([[220, 40, 40], [240, 200, 30], [200, 60, 200], [30, 30, 30]]))
    body = ((xs - sx) / (0.45 * size)) ** 2 + ((ys - sy) / (0.6 * size)) ** 2 < 1
    head = (xs - sx) ** 2 + (ys - (sy - 0.8 * size)) ** 2 < (0.3 * size) ** 2
    img[body | head] = colour
    img += rng.normal(0, 3, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def generate_demo_library(
    folder: Path, n_photos: int = 320, seed: int = 0
) -> dict[str, Crop | None]:
    """Write ``n_photos`` demo photos with Lightroom-style XMP into ``folder``.

    Returns:
        The photographer's display-frame crop of each photo by file name (None for the
        few reviewed and left uncropped): what a scan of ``folder`` must find.
    """
    from cropperhead.metadata.xmp import merge_crop_into_xmp

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    truth: dict[str, Crop | None] = {}
    for i in range(n_photos):
        portrait = rng.random() < 0.25
        width, height = (400, 600) if portrait else (600, 400)
        horizon_deg = float(rng.uniform(-8, 8))
        horizon_y = float(rng.uniform(0.3, 0.6) * height)
        subject = (float(rng.uniform(0.15, 0.85) * width), float(rng.uniform(0.55, 0.85) * height))
        size_frac = float(rng.uniform(0.12, 0.2))
        display = _render(width, height, horizon_deg, horizon_y, subject, size_frac, rng)
        crop = _habit_crop(width, height, horizon_deg, subject, size_frac, rng)
        # Some photos are stored sideways (a camera held upright): EXIF orientation 6 or 8.
        orientation = int(rng.choice([1, 1, 1, 1, 1, 6, 8, 3]))
        stored = _to_stored(Image.fromarray(display), orientation)
        sw, sh = stored.size
        stored_crop = crop_display_to_stored(crop, sw, sh, orientation)
        uncropped = rng.random() < 0.05
        if uncropped:
            packet = merge_crop_into_xmp(None, Crop.full_frame())
            packet = packet.replace(b'crs:HasCrop="True"', b'crs:HasCrop="False"')
        else:
            packet = merge_crop_into_xmp(None, stored_crop)
        exif = Image.Exif()
        exif[0x0112] = orientation
        path = folder / f"demo_{i:04d}.jpg"
        embedded = rng.random() < 0.2
        stored.save(path, quality=92, exif=exif, **({"xmp": packet} if embedded else {}))
        if not embedded:
            path.with_suffix(".xmp").write_bytes(packet)
        truth[path.name] = None if uncropped else crop
    return truth


def _to_stored(display: Image.Image, orientation: int) -> Image.Image:
    """The stored pixels that show as ``display`` under an EXIF orientation."""
    undo = {
        1: None,
        3: Image.Transpose.ROTATE_180,
        6: Image.Transpose.ROTATE_90,  # shown turned 90 cw, so stored turned 90 ccw
        8: Image.Transpose.ROTATE_270,
    }[orientation]
    return display if undo is None else display.transpose(undo)


def demo_dataset_path(cache_dir: Path | str) -> Path:
    """Where :func:`ensure_demo_dataset` keeps the demo training set under ``cache_dir``."""
    return Path(cache_dir).expanduser() / f"demo-v{DEMO_VERSION}" / "dataset"


def ensure_demo_dataset(cache_dir: Path | str, n_photos: int = 320, size: int = 256) -> Path:
    """Build the demo training set in the user's cache folder unless it is already there.

    Everything lives in ``cache_dir/demo-vN/`` (N: :data:`DEMO_VERSION`), a folder this
    function creates and marks as its own (:func:`cropperhead.files.mark_folder`): the
    generated photos in ``library/`` and the scanned training set in ``dataset/``. Both
    are built in a temporary folder inside it and moved into place, so an interrupted
    run never leaves half a data set behind. Nothing outside that folder is ever
    written, and an existing ``demo-vN`` folder without the marker (not ours) is refused,
    never replaced.

    Args:
        cache_dir: the user cache folder (``paths.cache_dir``: ``~/.cache/cropperhead``).
        n_photos: demo photos to generate.
        size: long side of the scanned images.

    Returns:
        The training set's folder (:func:`demo_dataset_path`).

    Raises:
        DatasetError: the demo folder exists, is not empty and is not ours.
    """
    from cropperhead.data.manifest import DatasetError

    dataset = demo_dataset_path(cache_dir)
    folder = dataset.parent
    marker = dataset / _DONE
    expected = f"{DEMO_VERSION} {n_photos} {size}"
    if files.is_marked(folder, _KIND):
        try:
            if files.read_regular(marker, 4096).decode().strip() == expected:
                return dataset
        except (OSError, ValueError):
            pass
    elif folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise DatasetError(
            f"{folder} exists and was not made by CropperHead; the demo is not built there. "
            "Move it away, or set CROPPERHEAD_CACHE_DIR to another cache folder"
        )
    from cropperhead.scan import scan_library

    log.info("building the demo library (%d photos) in %s ...", n_photos, folder)
    folder.mkdir(parents=True, exist_ok=True)
    files.mark_folder(folder, _KIND)
    _remove_stale_builds(folder)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".demo-build-") as tmp:
        built_library, built_dataset = Path(tmp) / "library", Path(tmp) / "dataset"
        generate_demo_library(built_library, n_photos=n_photos)
        library = folder / "library"
        _replace_own_dir(built_library, library, folder)
        scan_library([library], built_dataset, size=size, workers=1, progress=False)
        files.atomic_write(built_dataset / _DONE, expected + "\n")
        _replace_own_dir(built_dataset, dataset, folder)
    return dataset


def _replace_own_dir(built: Path, target: Path, owner: Path) -> None:
    """Move ``built`` to ``target``, removing an older ``target`` inside our ``owner``."""
    if target.parent != owner or not files.is_marked(owner, _KIND):
        raise RuntimeError(f"refusing to replace {target}: not inside a demo folder of ours")
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.exists():
        shutil.rmtree(target)
    built.rename(target)


def _remove_stale_builds(folder: Path) -> None:
    """Remove build folders that an interrupted run left in our demo folder."""
    now = time.time()
    for build in folder.glob(".demo-build-*"):
        try:
            old = now - build.lstat().st_mtime > _STALE_BUILD_S
        except OSError:
            continue
        if old and build.is_dir() and not build.is_symlink():
            shutil.rmtree(build, ignore_errors=True)
