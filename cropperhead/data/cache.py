"""A memory-mapped uint8 cache of letterboxed training images: the loader only slices it.

``data.cache=true`` (on in ``trainer=gpu``/``trainer=ddp``) builds, once, in the data set
folder::

    DATASET_DIR/cache/letterbox-<image_size>-<key>/
        images.npy          # [N, S, S, 3] uint8, row i = manifest line i, letterboxed
        crops.npy           # [N, 5] float32 display-frame crops
        aspects.npy         # [N] float32 display W'/H'
        content_boxes.npy   # [N, 4] int32 (x0, y0, w, h) of the photo on the canvas
        meta.json           # key, version, size, count (written last)

Pixels, labels, aspects and content boxes are exactly what :class:`CropDataset` gives
without augmentation (the same decode and :func:`~cropperhead.data.transforms.letterbox`);
normalisation and the training augmentations then run per batch on the device
(:mod:`cropperhead.data.gpu`). The key hashes the manifest's bytes, each image file's
size and modification time, and the image size, so a rescan or another ``image_size``
builds a fresh cache; older caches of the same size are removed once the new one is in
place. The build writes into a temporary folder that is renamed into place, so an
interrupted build never leaves a half cache behind and concurrent builders (one per
node in DDP) cannot corrupt each other.

Disk: ``N * S * S * 3`` bytes (150 kB per photo at 224 px, 442 kB at 384 px).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from collections import abc
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset, default_collate

from cropperhead import files
from cropperhead.data.manifest import DatasetError, Sample, read_manifest, read_usable_samples
from cropperhead.data.transforms import letterbox

log = logging.getLogger(__name__)

#: Bumped when the cache layout or the letterbox changes.
CACHE_VERSION = 1
CACHE_FOLDER = "cache"
_CHUNK = 64
_STALE_BUILD_S = 24 * 3600


@dataclass(frozen=True)
class LetterboxCache:
    """An opened cache (read-only memory maps).

    Attributes:
        path: the cache folder.
        images: ``[N, S, S, 3]`` uint8 letterboxed images (memory-mapped).
        crops: ``[N, 5]`` float32 display-frame crops.
        aspects: ``[N]`` float32 display aspect W'/H'.
        content_boxes: ``[N, 4]`` int32 ``(x0, y0, w, h)`` of the photo on the canvas.
        image_size: the canvas side ``S``.
        key: the content key the cache was built for.
    """

    path: Path
    images: np.ndarray
    crops: np.ndarray
    aspects: np.ndarray
    content_boxes: np.ndarray
    image_size: int
    key: str

    def __len__(self) -> int:
        return len(self.crops)


def cache_key(root: Path | str, image_size: int, samples: Sequence[Sample] | None = None) -> str:
    """The content key: manifest bytes, each image's size and mtime, the image size.

    Args:
        root: the scanned training set.
        image_size: canvas side.
        samples: the manifest's samples (read from ``root`` when omitted).

    Returns:
        A hex SHA-256.
    """
    root = Path(root).expanduser()
    samples = read_manifest(root) if samples is None else samples
    digest = hashlib.sha256(f"cropperhead-letterbox v{CACHE_VERSION} {int(image_size)}\n".encode())
    digest.update((root / "manifest.jsonl").read_bytes())
    for sample in samples:
        try:
            st = os.stat(sample.image)
            digest.update(
                f"{sample.image}\0{st.st_size}\0{st.st_mtime_ns}\n".encode(
                    "utf-8", "surrogateescape"
                )
            )
        except OSError:
            digest.update(f"{sample.image}\0missing\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def cache_path(root: Path | str, image_size: int, key: str) -> Path:
    """Folder of the cache with this key."""
    return Path(root).expanduser() / CACHE_FOLDER / f"letterbox-{int(image_size)}-{key[:16]}"


def open_cache(path: Path | str, key: str | None = None) -> LetterboxCache | None:
    """Open a complete cache folder read-only; None when it is absent, partial or stale.

    Args:
        path: the cache folder.
        key: the key it must have been built for (None: any).
    """
    path = Path(path)
    try:
        meta = json.loads((path / "meta.json").read_text())
        if meta.get("version") != CACHE_VERSION or (key is not None and meta.get("key") != key):
            return None
        images = np.load(path / "images.npy", mmap_mode="r")
        crops = np.load(path / "crops.npy")
        aspects = np.load(path / "aspects.npy")
        boxes = np.load(path / "content_boxes.npy")
    except (OSError, ValueError, KeyError):
        return None
    n, size = int(meta["count"]), int(meta["image_size"])
    if (
        images.shape != (n, size, size, 3)
        or crops.shape != (n, 5)
        or aspects.shape != (n,)
        or boxes.shape != (n, 4)
    ):
        return None
    return LetterboxCache(path, images, crops, aspects, boxes, size, str(meta["key"]))


def _letterbox_rows(
    images_npy: str, size: int, jobs: list[tuple[int, str]]
) -> list[tuple[list[int], int, int]]:
    """Worker: decode, letterbox and write rows into the memory map.

    Returns:
        Per row: the content box and the decoded image's width and height.
    """
    out = np.load(images_npy, mmap_mode="r+")
    boxes = []
    for row, image_path in jobs:
        try:
            with Image.open(image_path) as im:
                pixels = np.asarray(im.convert("RGB"))
        except OSError as exc:
            raise DatasetError(f"cannot read {image_path} for the cache: {exc}") from exc
        canvas, box = letterbox(pixels, size)
        out[row] = canvas
        boxes.append((list(box), pixels.shape[1], pixels.shape[0]))
    out.flush()
    return boxes


def _progress(total: int, enabled: bool, desc: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, desc=desc, unit="img", smoothing=0.1)


def _is_cache(folder: Path) -> bool:
    try:
        meta = json.loads(files.read_regular(folder / "meta.json", 65536))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and {"version", "key", "image_size", "count"} <= set(meta)


def _remove_stale(root: Path, image_size: int, keep: Path) -> None:
    folder = root / CACHE_FOLDER
    for old in folder.glob(f"letterbox-{int(image_size)}-*"):
        # Only folders that are provably caches of ours (their meta.json) are removed.
        if old != keep and old.is_dir() and not old.is_symlink() and _is_cache(old):
            log.info("removing stale cache %s", old)
            shutil.rmtree(old, ignore_errors=True)
    now = time.time()
    for tmp in folder.glob(".building-*"):
        try:
            if now - tmp.stat().st_mtime > _STALE_BUILD_S:
                shutil.rmtree(tmp, ignore_errors=True)
        except OSError:
            pass


def build_cache(
    root: Path | str,
    image_size: int,
    workers: int = 0,
    progress: bool = True,
    samples: Sequence[Sample] | None = None,
) -> LetterboxCache:
    """Open the up-to-date cache of ``root`` at ``image_size``, building it if needed.

    Args:
        root: the scanned training set (``manifest.jsonl`` + ``images/``).
        image_size: canvas side.
        workers: decoding processes (0: in this process).
        progress: show a progress bar while building.
        samples: the samples to cache, in row order (default: the manifest's samples
            with usable images, :func:`~cropperhead.data.manifest.read_usable_samples`).

    Returns:
        The opened cache.

    Raises:
        DatasetError: no manifest, or an image cannot be read.
        ValueError: ``image_size`` is not positive.
    """
    if int(image_size) <= 0:
        raise ValueError(f"image_size must be positive, got {image_size!r}")
    root = Path(root).expanduser()
    size = int(image_size)
    samples = list(read_usable_samples(root) if samples is None else samples)
    key = cache_key(root, size, samples)
    final = cache_path(root, size, key)
    cache = open_cache(final, key)
    if cache is not None:
        return cache

    folder = root / CACHE_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".building-{key[:16]}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    n = len(samples)
    gib = n * size * size * 3 / 2**30
    log.info("caching %d letterboxed %d px images (%.2f GiB) in %s", n, size, gib, final)
    try:
        images_npy = tmp / "images.npy"
        np.lib.format.open_memmap(images_npy, mode="w+", dtype=np.uint8, shape=(n, size, size, 3))
        crops = np.stack([s.crop.as_array() for s in samples]).astype(np.float32)
        aspects = np.zeros(n, np.float64)
        boxes = np.zeros((n, 4), np.int32)

        def store(row: int, result: tuple[list[int], int, int]) -> None:
            box, w, h = result
            boxes[row] = box
            # Exactly CropDataset's arithmetic: (w * W'/w) / (h * H'/h) in float64.
            sample = samples[row]
            aspects[row] = (w * (sample.width / w)) / (h * (sample.height / h))

        chunks = [
            [(i, str(samples[i].image)) for i in range(start, min(start + _CHUNK, n))]
            for start in range(0, n, _CHUNK)
        ]
        with _progress(n, progress, f"cache {size}px") as bar:
            if workers > 0 and len(chunks) > 1:
                with ProcessPoolExecutor(max_workers=workers) as pool:
                    futures = [
                        pool.submit(_letterbox_rows, str(images_npy), size, c) for c in chunks
                    ]
                    try:
                        for chunk, future in zip(chunks, futures, strict=True):
                            for (row, _), result in zip(chunk, future.result(), strict=True):
                                store(row, result)
                            bar.update(len(chunk))
                    except BaseException:
                        # A bad image or Ctrl-C: do not decode the rest first.
                        pool.shutdown(wait=True, cancel_futures=True)
                        raise
            else:
                for chunk in chunks:
                    results = _letterbox_rows(str(images_npy), size, chunk)
                    for (row, _), result in zip(chunk, results, strict=True):
                        store(row, result)
                    bar.update(len(chunk))
        np.save(tmp / "crops.npy", crops)
        np.save(tmp / "aspects.npy", aspects.astype(np.float32))
        np.save(tmp / "content_boxes.npy", boxes)
        meta = {"version": CACHE_VERSION, "key": key, "image_size": size, "count": n}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
        try:
            os.rename(tmp, final)
        except OSError:
            # Another process (another node's rank 0) finished the same cache first.
            if open_cache(final, key) is None:
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _remove_stale(root, size, final)
    cache = open_cache(final, key)
    if cache is None:
        raise DatasetError(f"the cache at {final} could not be opened after building it")
    return cache


class CachedCropDataset(Dataset):
    """Rows of a :class:`LetterboxCache`: batches are slices of the memory map.

    Items are dicts like :class:`~cropperhead.data.dataset.CropDataset`'s except that
    ``image`` is the letterboxed canvas as ``[S, S, 3]`` uint8 (not normalised):
    :class:`~cropperhead.data.gpu.GpuAugment` normalises (and augments) it on the device.
    ``__getitems__`` slices a whole batch with one fancy index; with
    :func:`collate_cached` as the loader's ``collate_fn`` it is used without a copy.

    Args:
        cache: the opened cache (only its folder is pickled to loader workers).
        rows: cache rows of this split, in split order (``index`` is the position here).
    """

    def __init__(self, cache: LetterboxCache, rows: Sequence[int]) -> None:
        self.path = cache.path
        self.image_size = cache.image_size
        self.rows = np.asarray(rows, dtype=np.int64)
        self.crops = torch.from_numpy(np.ascontiguousarray(cache.crops[self.rows]))
        self.aspects = torch.from_numpy(np.ascontiguousarray(cache.aspects[self.rows]))
        self.boxes = torch.from_numpy(
            np.ascontiguousarray(cache.content_boxes[self.rows]).astype(np.float32)
        )
        self._images: np.ndarray | None = cache.images

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_images"] = None  # a memory map must not be pickled (it would copy the data)
        return state

    def _pixels(self) -> np.ndarray:
        if self._images is None:
            self._images = np.load(self.path / "images.npy", mmap_mode="r")
        return self._images

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        row = int(self.rows[index])
        return {
            "image": torch.from_numpy(np.array(self._pixels()[row])),
            "crop": self.crops[index],
            "aspect": self.aspects[index],
            "content_box": self.boxes[index],
            "index": torch.tensor(index),
        }

    def __getitems__(self, indices: Sequence[int]) -> CachedBatch:
        idx = np.asarray(indices, dtype=np.int64)
        t = torch.from_numpy(idx)
        return CachedBatch(
            {
                "image": torch.from_numpy(self._pixels()[self.rows[idx]]),
                "crop": self.crops[t],
                "aspect": self.aspects[t],
                "content_box": self.boxes[t],
                "index": t,
            }
        )


class CachedBatch(abc.Sequence):
    """A batch sliced from the memory map in one go.

    :func:`collate_cached` takes ``batch`` as it is (no copy); any other collate function
    sees a sequence of per-item dicts (views) and works as with a plain dataset.
    """

    def __init__(self, batch: dict[str, torch.Tensor]) -> None:
        self.batch = batch

    def __len__(self) -> int:
        return len(self.batch["index"])

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:  # type: ignore[override]
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        return {key: value[i] for key, value in self.batch.items()}


def collate_cached(batch: Any) -> Any:
    """Collate for :class:`CachedCropDataset`: its ``__getitems__`` already made the batch."""
    if isinstance(batch, CachedBatch):
        return batch.batch
    return default_collate(batch)


def cache_rows(all_samples: Sequence[Sample], split: Sequence[Sample]) -> list[int]:
    """Cache rows (manifest positions) of the samples of a split (same objects)."""
    row_of = {id(s): i for i, s in enumerate(all_samples)}
    try:
        return [row_of[id(s)] for s in split]
    except KeyError as exc:
        raise ValueError("split samples must come from the same read_manifest() call") from exc
