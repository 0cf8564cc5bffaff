"""LightningDataModule over a scanned training set (or the built-in demo library).

Splits are keyed on the source photo: a photo and its virtual copies always land in
the same split, and a photo keeps its split when the library grows (the split is a
hash of the seed and the source path, not a shuffle of the list).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import DataLoader

from cropperhead.data.cache import CachedCropDataset, build_cache, cache_rows, collate_cached
from cropperhead.data.dataset import CropDataset
from cropperhead.data.gpu import GpuAugment
from cropperhead.data.manifest import (
    DatasetError,
    Sample,
    check_dataset_root,
    read_usable_samples,
    usual_crop,
)
from cropperhead.data.transforms import CropAugment
from cropperhead.geometry import Crop
from cropperhead.geometry.aspect import aspect_class, habit
from cropperhead.workers import cpu_cores

log = logging.getLogger(__name__)


def _unrepeated_sampler(dataset: Any) -> UnrepeatedDistributedSampler | None:
    """Under DDP, an evaluation sampler that shards without repeating photos.

    Lightning's own choice for validation and test, a ``DistributedSampler``, pads the
    shards to equal length by repeating photos, which skews the metrics a little; these
    are running means synced across ranks, which do not need equal shards. With fewer
    photos than processes (some rank would get none, and its epoch-end sync would be
    missing) Lightning's padded sampler stays. None when not distributed.
    """
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return None
    world = torch.distributed.get_world_size()
    if world < 2 or len(dataset) < world:
        return None
    return UnrepeatedDistributedSampler(
        dataset, num_replicas=world, rank=torch.distributed.get_rank(), shuffle=False
    )


def split_of(source: str, seed: int, val_fraction: float, test_fraction: float) -> str:
    """``"train"``, ``"val"`` or ``"test"`` for a source photo, deterministically."""
    digest = hashlib.sha1(f"{seed}:{source}".encode("utf-8", "surrogateescape")).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < test_fraction:
        return "test"
    if u < test_fraction + val_fraction:
        return "val"
    return "train"


def split_samples(
    samples: list[Sample], seed: int, val_fraction: float, test_fraction: float
) -> dict[str, list[Sample]]:
    """Split samples by source photo; a non-empty library always gets a validation photo."""
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(
            f"val_fraction and test_fraction must be in [0, 1) with a sum < 1, "
            f"got {val_fraction!r} and {test_fraction!r}"
        )
    splits: dict[str, list[Sample]] = {"train": [], "val": [], "test": []}
    for sample in samples:
        splits[split_of(sample.source, seed, val_fraction, test_fraction)].append(sample)
    sources = sorted({s.source for s in splits["train"]})
    if not splits["val"] and val_fraction > 0 and len(sources) > 1:
        # Tiny libraries: move the first training photo (all its copies) to validation.
        moved = sources[0]
        splits["val"] = [s for s in splits["train"] if s.source == moved]
        splits["train"] = [s for s in splits["train"] if s.source != moved]
    return splits


def is_uncropped(sample: Sample) -> bool:
    """Whether the label is the full frame: a photo the photographer left as it was."""
    full = Crop.full_frame().as_array()
    return bool(np.allclose(sample.crop.as_array(), full, rtol=0, atol=1e-6))


#: The turn of ``turn=auto`` for a photographer who straightens, degrees.
AUTO_TURN_DEG = 3.0


def straightens(samples: list[Sample], min_angle: float = 0.3, share: float = 0.25) -> bool:
    """Whether the photographer turns their crops: ``share`` of them by ``min_angle`` or more."""
    angles = [abs(s.crop.angle) for s in samples if not is_uncropped(s)]
    return bool(angles) and sum(a >= min_angle for a in angles) >= share * len(angles)


def crop_habits(samples: list[Sample]) -> tuple[dict[str, float], bool]:
    """The photographer's aspect classes, and whether they leave some photos uncropped.

    Returns:
        ``(habit, has_uncropped)``: :func:`~cropperhead.geometry.aspect.habit` of the
        cropped samples, and whether any sample is a full-frame (uncropped) one.
    """
    cropped = [s for s in samples if not is_uncropped(s)]
    classes = [aspect_class(s.crop, s.width, s.height) for s in cropped]
    return habit(classes), len(cropped) < len(samples)


class CropDataModule(pl.LightningDataModule):
    """Train/val/test loaders over ``root/manifest.jsonl``.

    Args:
        root: the scanned training set (``cropperhead scan --out ROOT``). When given, it
            is what is trained on, whatever ``demo`` says.
        demo: without ``root``, train on the built-in demo library, built on first use
            in ``demo_dir`` (``data=demo``).
        demo_dir: the user cache folder the demo lives in (``paths.cache_dir``).
        demo_photos: number of demo photos to generate.
        image_size: side of the square, letterboxed network input.
        batch_size: batch size per device.
        num_workers: loader processes; ``None`` picks one less than the CPU count (max 8).
        pin_memory: pin host memory (GPU training).
        persistent_workers: keep workers between epochs.
        val_fraction: share of source photos used for validation.
        test_fraction: share of source photos used for the final test (0: none, and
            train.py gives its verdict on validation).
        augment: training augmentation preset (see data/transforms.py).
        seed: split seed.
        cache: decode once into a memory-mapped uint8 cache in ``root`` (data/cache.py);
            batches are then normalised and augmented on the device (data/gpu.py).
        zoom: largest zoom of the training augmentation (1: none; data/transforms.py).
        turn: largest turn in degrees of the training augmentation (0: none), or
            ``auto``: :data:`AUTO_TURN_DEG` when the photographer straightens (their
            crops' angles follow the picture), else none.
        epochs: how many epochs this kind of data set wants; conf/trainer/default.yaml
            reads it as ``trainer.max_epochs`` (the module itself does not use it).
    """

    def __init__(
        self,
        root: str | None = None,
        demo: bool = False,
        demo_dir: str | None = None,
        demo_photos: int = 320,
        image_size: int = 224,
        batch_size: int = 32,
        num_workers: int | None = None,
        pin_memory: bool = True,
        persistent_workers: bool = True,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        augment: str = "default",
        seed: int = 42,
        cache: bool = False,
        zoom: float = 1.0,
        turn: float | str = 0.0,
        epochs: int | None = None,
    ) -> None:
        super().__init__()
        if root:
            if demo:
                log.info("data.root=%s given: training on that data set, not the demo", root)
            demo = False
            self.root = Path(root).expanduser()
            check_dataset_root(self.root)  # fail before the model, loggers and trainer
        elif demo:
            if not demo_dir:
                raise DatasetError("data=demo needs data.demo_dir, the user cache folder")
            from cropperhead.data.demo import demo_dataset_path

            self.root = demo_dataset_path(demo_dir)
        else:
            raise DatasetError(
                "no training set given: pass data.root=DATASET_DIR, the --out folder of "
                "`cropperhead scan YOUR_PHOTOS --out DATASET_DIR`"
            )
        self.demo = demo
        self.demo_dir = demo_dir
        self.demo_photos = demo_photos
        self.image_size = image_size
        self.batch_size = batch_size
        self.num_workers = min(max(cpu_cores() - 1, 0), 8) if num_workers is None else num_workers
        self.pin_memory = pin_memory
        self.persistent_workers = persistent_workers
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.augment = augment
        self.seed = seed
        self.epochs = epochs
        self.splits: dict[str, list[Sample]] = {}
        self.usual_crop: tuple[float, ...] | None = None
        #: The training split's aspect classes and their shares (geometry/aspect.py).
        self.aspect_habit: dict[str, float] = {}
        #: Whether the training split has photos the photographer left uncropped.
        self.has_uncropped = False
        self.cache = bool(cache)
        self.zoom = float(zoom)
        self.turn = turn if str(turn) == "auto" else float(turn)
        #: The turn used (``turn`` with ``auto`` decided by :meth:`setup`).
        self.max_turn = 0.0 if self.turn == "auto" else float(self.turn)
        if self.cache and (self.zoom > 1 or self.turn not in ("auto", 0.0)):
            raise ValueError(
                "data.zoom and data.turn work on the decoding path only: with "
                "data.cache=true set data.zoom=1 and data.turn=0 (or auto)"
            )
        # Built now so that a preset the cache cannot do is refused up front.
        self.gpu_augment = GpuAugment(augment) if self.cache else None
        self._cache_rows: dict[str, list[int]] = {}
        self._letterbox_cache = None

    def prepare_data(self) -> None:
        """Build the demo library on first use (one process only)."""
        if self.demo:
            from cropperhead.data.demo import ensure_demo_dataset

            ensure_demo_dataset(self.demo_dir, n_photos=self.demo_photos)
        if self.cache:
            build_cache(self.root, self.image_size, workers=self.num_workers)

    def setup(self, stage: str | None = None) -> None:
        """Read the manifest, split by source photo and compute the usual-crop baseline."""
        if self.splits:
            return
        samples = read_usable_samples(self.root)
        self.splits = split_samples(samples, self.seed, self.val_fraction, self.test_fraction)
        self.usual_crop = usual_crop(self.splits["train"])
        self.aspect_habit, self.has_uncropped = crop_habits(self.splits["train"])
        if self.turn == "auto" and not self.cache:  # the cache path turns nothing
            self.max_turn = AUTO_TURN_DEG if straightens(self.splits["train"]) else 0.0
            log.info("training turns: up to %.1f deg", self.max_turn)
        if self.cache:
            self._letterbox_cache = build_cache(
                self.root, self.image_size, self.num_workers, samples=samples
            )
            self._cache_rows = {k: cache_rows(samples, v) for k, v in self.splits.items()}
        log.info(
            "training set %s: %d train, %d val, %d test samples",
            self.root,
            *(len(self.splits[k]) for k in ("train", "val", "test")),
        )
        shares = ", ".join(f"{k} {v:.0%}" for k, v in self.aspect_habit.items() if v > 0)
        left = sum(is_uncropped(s) for s in self.splits["train"])
        log.info(
            "the photographer's aspects: %s; %d of %d training photos left uncropped",
            shares or "none",
            left,
            len(self.splits["train"]),
        )

    def _loader(self, split: str, train: bool) -> DataLoader:
        collate_fn = None
        if self.cache:
            dataset = CachedCropDataset(self._letterbox_cache, self._cache_rows[split])
            collate_fn = collate_cached
        else:
            augment = (
                CropAugment(self.augment, max_zoom=self.zoom, max_turn=self.max_turn)
                if train and self.augment != "none"
                else None
            )
            dataset = CropDataset(self.splits[split], self.image_size, augment)
        sampler = None if train else _unrepeated_sampler(dataset)
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=train,
            sampler=sampler,
            drop_last=train and len(dataset) > self.batch_size,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory and torch.cuda.is_available(),
            persistent_workers=self.persistent_workers and self.num_workers > 0,
            collate_fn=collate_fn,
        )

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """With ``cache``: normalise (and, when training, augment) on the device."""
        if self.gpu_augment is None:
            return batch
        training = self.trainer is not None and self.trainer.training
        return self.gpu_augment(batch, train=training)

    def train_dataloader(self) -> DataLoader:
        """Shuffled, augmented training batches."""
        return self._loader("train", train=True)

    def val_dataloader(self) -> DataLoader:
        """Validation batches (letterbox only)."""
        return self._loader("val", train=False)

    def test_dataloader(self) -> DataLoader:
        """Test batches (letterbox only)."""
        return self._loader("test", train=False)
