"""Batched crop prediction over photo files.

A :class:`Predictor` turns photo paths into display-frame crops:

1. DataLoader workers decode each photo with :func:`cropperhead.scan.photo.load_photo`
   (the scan's display orientation: XMP tiff:Orientation, then EXIF), at the long side
   the training images were scanned with (``decode_size``, the scan's ``--size``, 512 by
   default), and letterbox it to the model's square input with
   :func:`cropperhead.data.transforms.letterbox`: the same steps that
   :class:`~cropperhead.data.dataset.CropDataset` applies to a scanned image at
   evaluation time (the scan additionally stores the picture as a quality-95 JPEG, which
   prediction skips). Workers hand over ``uint8`` canvases; a photo that cannot be
   decoded becomes a :class:`Skipped` record and the run goes on.
2. The main process normalises the batch exactly as training does
   (:func:`cropperhead.data.gpu.normalize_uint8`, float32), runs the model on its device
   and builds :class:`Prediction` records. On the CPU the network runs on batches of 8
   (not 16), so that it overlaps the decoding of the next photos, and while the workers
   still decode it keeps to the cores they leave (:func:`default_threads`; 1 thread on 2
   cores): a second intra-op thread spinning next to two busy workers only burns CPU
   time they need. The last batch, decoded alone, gets the model's own thread count.

Confidence (``confidence=True``; ``None`` means on for a GPU, off on the CPU): the batch
is also run mirrored left to right; the mirrored prediction is mapped back
(:func:`cropperhead.data.gpu.hflip_crops`: corners mirrored and renamed, angle negated)
and compared with the prediction as the rotated IoU in display pixels. 1 means the model
suggests the same crop for the photo and its mirror image; low values flag photos where
it is unsure. It costs a second forward pass: next to nothing on a GPU, but on a CPU the
network dominates the time per photo (benchmarks/README.md), hence off there unless
asked for. With ``mirror_average`` (the default) the same mirrored pass also averages
the crop: the suggestion is the crop halfway between the prediction and the mirrored
prediction mapped back (:func:`cropperhead.geometry.boxes.mean_crops`), and the agreement
compares the two before averaging; without it the crop is the unmirrored prediction,
and on a CPU the second pass runs only for ``confidence``. The mirrored input is
the flipped letterbox canvas, so when the padding is odd the photo sits one canvas pixel
off centre.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from cropperhead.data.gpu import hflip_crops, normalize_uint8
from cropperhead.data.transforms import MEAN, STD, letterbox
from cropperhead.geometry import Crop
from cropperhead.geometry.boxes import mean_crops, rotated_iou
from cropperhead.imaging import DisplayImage
from cropperhead.metadata.types import INVALID_CROP, UNREADABLE, SkipError
from cropperhead.predict.loaders import CropModel
from cropperhead.predict.options import DEFAULT_DECODE_SIZE
from cropperhead.workers import cpu_cores, exit_with_parent

logger = logging.getLogger(__name__)

#: Most DataLoader workers started by default.
MAX_DEFAULT_WORKERS = 8
#: Photos per forward pass by default on a GPU, and on the CPU. A CPU's time per photo
#: hardly changes from a few photos up, and smaller batches let the network run while
#: the workers decode the next photos instead of after them (benchmarks/README.md).
DEFAULT_BATCH_SIZE_GPU = 16
DEFAULT_BATCH_SIZE_CPU = 8


@dataclass(frozen=True)
class Prediction:
    """One photo's suggested crop.

    Attributes:
        index: position of the photo in the input list.
        source: absolute path of the photo.
        width: display width W' of the original, pixels.
        height: display height H' of the original, pixels.
        orientation: the EXIF orientation 1..8 applied to show the photo (stored ->
            display), as the scan chooses it.
        crop: the display-frame crop.
        confidence: IoU between the prediction and the mirrored prediction, or None.
        aspect_probs: probability of each of the model's aspect classes
            (``model.info.aspect_classes``), or None for a model without them.
        p_crop: probability that the photographer would crop this photo at all, or None.
        quality: the model's own estimate of how good the crop is (0..1), or None.
    """

    index: int
    source: Path
    width: int
    height: int
    orientation: int
    crop: Crop
    confidence: float | None = None
    aspect_probs: tuple[float, ...] | None = None
    p_crop: float | None = None
    quality: float | None = None


@dataclass(frozen=True)
class Skipped:
    """A photo that could not be predicted.

    Attributes:
        index: position of the photo in the input list.
        source: the photo.
        reason: a skip code (``unreadable``, ``unsupported``, ...).
        detail: one human-readable line.
    """

    index: int
    source: Path
    reason: str
    detail: str


def prepare_photo(photo: DisplayImage, image_size: int) -> np.ndarray:
    """A decoded display-frame photo as the network's ``uint8`` canvas.

    Args:
        photo: from :func:`cropperhead.scan.photo.load_photo`.
        image_size: the model's input side.

    Returns:
        ``[S, S, 3]`` uint8 letterboxed canvas, as :class:`CropDataset` builds it.
    """
    image = np.asarray(photo.image.convert("RGB"))
    canvas, _ = letterbox(image, image_size)
    return canvas


def load_and_prepare(
    path: Path, image_size: int, decode_size: int, orientation: int | None = None
) -> dict[str, Any]:
    """Decode and letterbox one photo (runs in DataLoader workers).

    ``orientation`` (1..8) replaces the photo's own (the scan's rule) when given.

    Returns:
        ``{"canvas", "aspect", "width", "height", "orientation"}``.

    Raises:
        SkipError: the photo cannot be decoded.
    """
    from cropperhead.scan.photo import load_photo

    photo = load_photo(path, max(decode_size, image_size), orientation)
    return {
        "canvas": prepare_photo(photo, image_size),
        "aspect": photo.width / photo.height,
        "width": photo.width,
        "height": photo.height,
        "orientation": photo.orientation,
    }


class PhotoDataset(Dataset):
    """Photo paths -> letterboxed canvases, or the reason a photo is skipped.

    Args:
        paths: the photos.
        image_size: the model's input side.
        decode_size: long side the photos are decoded at before letterboxing.
        orientations: EXIF orientations to use instead of the photos' own, by absolute,
            symlink-resolved path (the Lightroom plug-in's ``orientations=``).
    """

    def __init__(
        self,
        paths: Sequence[Path],
        image_size: int,
        decode_size: int,
        orientations: Mapping[Path, int] | None = None,
    ):
        self.paths = list(paths)
        self.image_size = int(image_size)
        self.decode_size = int(decode_size)
        self.orientations = dict(orientations or {})

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, Any]:
        path = self.paths[index]
        try:
            given = (
                self.orientations.get(Path(os.path.realpath(path))) if self.orientations else None
            )
            item = load_and_prepare(path, self.image_size, self.decode_size, given)
        except SkipError as exc:
            return {"index": index, "skip": (exc.reason, exc.detail)}
        except Exception as exc:  # noqa: BLE001 - one bad file never stops the run
            logger.debug("decoding %s failed", path, exc_info=True)
            return {"index": index, "skip": (UNREADABLE, f"{type(exc).__name__}: {exc}")}
        item["index"] = index
        return item


def collate_photos(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack the decoded photos of a batch; keep the skips apart."""
    good = [item for item in items if "skip" not in item]
    batch: dict[str, Any] = {
        "skips": [(item["index"], *item["skip"]) for item in items if "skip" in item],
        "index": [item["index"] for item in good],
        "width": [item["width"] for item in good],
        "height": [item["height"] for item in good],
        "orientation": [item["orientation"] for item in good],
    }
    if good:
        batch["canvas"] = torch.from_numpy(np.stack([item["canvas"] for item in good]))
        batch["aspect"] = torch.tensor([item["aspect"] for item in good], dtype=torch.float32)
    return batch


def _as_is(item: dict[str, Any]) -> dict[str, Any]:
    """The loader's collate function for single items: hand them over unchanged."""
    return item


def _worker_init(_: int, parent_pid: int | None = None) -> None:
    # A killed predict.py (kill -9) must not leave its decoders waiting forever.
    exit_with_parent(parent_pid if parent_pid is not None else os.getppid())


def _single_threaded_cv2() -> None:
    """One OpenCV thread: the decoders are one process per core already.

    Called in the parent before the workers fork. Changing OpenCV's thread pool inside a
    forked worker deadlocks when the parent had already started that pool (its lock is
    copied held), which hung predict in a process that had trained before.
    """
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover - cv2 comes with albumentations
        pass


def default_num_workers(n_photos: int) -> int:
    """Decoding processes: one per core (up to 8), none for a single photo."""
    if n_photos <= 1:
        return 0
    return max(1, min(cpu_cores(), MAX_DEFAULT_WORKERS, n_photos))


def default_threads(workers: int) -> int | None:
    """CPU threads for the network while ``workers`` processes decode: the cores they leave.

    None (the model's own count) when nothing decodes alongside (``workers == 0``).
    """
    return max(1, cpu_cores() - workers) if workers else None


def on_gpu(model: CropModel) -> bool:
    """Whether the model runs on a GPU (CUDA, MPS, or onnxruntime's CUDA provider)."""
    providers = getattr(model, "providers", ())
    if "CUDAExecutionProvider" in providers:
        return True
    return str(model.device).startswith(("cuda", "mps"))


class Predictor:
    """Suggests crops for photo files.

    Args:
        model: a loaded crop model (checkpoint, ONNX or TorchScript).
        batch_size: photos per forward pass (None: :data:`DEFAULT_BATCH_SIZE_GPU` on a
            GPU, :data:`DEFAULT_BATCH_SIZE_CPU` on the CPU).
        num_workers: decoding processes (None: :func:`default_num_workers`; 0: decode in
            this process).
        confidence: also run the mirrored photos and report the agreement; None: only
            when the model runs on a GPU (CUDA, MPS).
        mirror_average: suggest the crop halfway between the photo's and the mirrored
            photo's (mapped back), test-time augmentation; None: only when the mirrored
            pass runs anyway (``confidence``).
        decode_size: long side the photos are decoded at before letterboxing.
        threads: most CPU threads the network uses while the workers still decode (the
            last batch, decoded alone, gets the model's own count). None:
            :func:`default_threads`, the cores the workers leave.
    """

    def __init__(
        self,
        model: CropModel,
        batch_size: int | None = None,
        num_workers: int | None = None,
        confidence: bool | None = None,
        decode_size: int = DEFAULT_DECODE_SIZE,
        threads: int | None = None,
        mirror_average: bool | None = True,
    ) -> None:
        if batch_size is not None and (
            isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
        ):
            raise ValueError(f"batch_size must be None or a positive integer, got {batch_size!r}")
        if num_workers is not None and (
            isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0
        ):
            raise ValueError(f"num_workers must be None or >= 0, got {num_workers!r}")
        if isinstance(decode_size, bool) or not isinstance(decode_size, int) or decode_size < 1:
            raise ValueError(f"decode_size must be a positive integer, got {decode_size!r}")
        if threads is not None and (
            isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
        ):
            raise ValueError(f"threads must be None or a positive integer, got {threads!r}")
        self.model = model
        if batch_size is None:
            batch_size = DEFAULT_BATCH_SIZE_GPU if on_gpu(model) else DEFAULT_BATCH_SIZE_CPU
        self.batch_size = batch_size
        self.num_workers = num_workers
        if confidence is None:
            confidence = on_gpu(model)
        self.confidence = bool(confidence)
        self.mirror_average = self.confidence if mirror_average is None else bool(mirror_average)
        self.decode_size = decode_size
        self.threads = threads
        info = model.info
        self._mean = torch.tensor(info.mean, dtype=torch.float32).view(1, 3, 1, 1) * 255
        self._std = torch.tensor(info.std, dtype=torch.float32).view(1, 3, 1, 1) * 255

    @property
    def image_size(self) -> int:
        """The model's input side."""
        return self.model.info.image_size

    def normalize(self, canvases: Tensor) -> Tensor:
        """``[B, S, S, 3]`` uint8 -> ``[B, 3, S, S]`` float32 on the model's device."""
        x = canvases.to(self.model.device)
        if self.model.info.mean == MEAN and self.model.info.std == STD:
            return normalize_uint8(x)  # training's own arithmetic
        x = x.permute(0, 3, 1, 2).float()
        return (x - self._mean.to(x.device)) / self._std.to(x.device)

    def predict_canvases(self, canvases: Tensor, aspect: Tensor) -> tuple[Tensor, Tensor | None]:
        """The model's outputs (and mirror agreements) for letterboxed canvases.

        Args:
            canvases: ``[B, S, S, 3]`` uint8.
            aspect: ``[B]`` display width / height.

        Returns:
            ``([B, 5 + E] float64 outputs, [B] float64 agreements or None)``, CPU: the
            crops, then ``model.info.extras`` columns (network.py ``CropNet.forward``).
        """
        images = self.normalize(canvases)
        n = images.shape[0]
        if not (self.confidence or self.mirror_average):
            return self.model(images, aspect).double(), None
        both = self.model(torch.cat([images, images.flip(-1)]), torch.cat([aspect, aspect]))
        outputs, mirrored = both[:n].double(), both[n:].double()
        crops = outputs[:, :5]
        aspect64 = aspect.double()
        ones = torch.ones_like(aspect64)
        back = hflip_crops(mirrored[:, :5], aspect64)
        agreement = rotated_iou(crops, back, aspect64, ones).clamp(0, 1)
        if self.mirror_average:
            # The extras (aspect class probabilities, p_crop, quality) do not change
            # under a mirror, so they average as they are.
            outputs = torch.cat(
                [mean_crops(crops, back, aspect64, ones), (outputs[:, 5:] + mirrored[:, 5:]) / 2],
                1,
            )
        return outputs, agreement if self.confidence else None

    def workers(self, n_photos: int) -> int:
        """Decoding processes for ``n_photos`` photos."""
        return default_num_workers(n_photos) if self.num_workers is None else self.num_workers

    def loader(
        self, paths: Sequence[Path], orientations: Mapping[Path, int] | None = None
    ) -> DataLoader:
        """The DataLoader that decodes ``paths``, one photo per item, in order.

        Workers take single photos (not whole batches), so that all of them decode at
        once even for a handful of photos, and each keeps up to a batch's share of
        photos ready while the main process runs the network.
        """
        workers = self.workers(len(paths))
        dataset = PhotoDataset(paths, self.image_size, self.decode_size, orientations)
        extra: dict[str, Any] = {}
        if workers:
            _single_threaded_cv2()
            extra["worker_init_fn"] = functools.partial(_worker_init, parent_pid=os.getpid())
            extra["prefetch_factor"] = max(2, math.ceil(self.batch_size / workers) + 1)
        return DataLoader(
            dataset,
            batch_size=None,
            shuffle=False,
            num_workers=workers,
            collate_fn=_as_is,
            pin_memory=False,
            **extra,
        )

    def predict(
        self,
        paths: Sequence[Path],
        progress: bool = False,
        orientations: Mapping[Path, int] | None = None,
    ) -> Iterator[Prediction | Skipped]:
        """Predict every photo, in input order.

        Args:
            paths: the photos (absolute paths are best: records carry them).
            progress: show a tqdm progress bar on stderr.
            orientations: EXIF orientations to use instead of the photos' own, by
                absolute, symlink-resolved path.

        Yields:
            One :class:`Prediction` or :class:`Skipped` per path, in order.
        """
        paths = [Path(p) for p in paths]
        bar = None
        stack = contextlib.ExitStack()
        if progress:
            from tqdm import tqdm
            from tqdm.contrib.logging import logging_redirect_tqdm

            bar = tqdm(total=len(paths), unit="photo", desc="predict", dynamic_ncols=True)
            stack.enter_context(logging_redirect_tqdm())  # warnings above the bar
        workers = self.workers(len(paths))
        threads = self.threads if self.threads is not None else default_threads(workers)
        try:
            pending: list[dict[str, Any]] = []
            decoded = received = 0
            for item in self.loader(paths, orientations):
                pending.append(item)
                received += 1
                decoded += "skip" not in item
                if decoded < self.batch_size:
                    continue
                # While workers still decode, the network keeps to the cores they leave.
                busy = workers > 0 and received < len(paths)
                yield from self._finish(pending, paths, bar, threads if busy else None)
                pending, decoded = [], 0
            if pending:
                yield from self._finish(pending, paths, bar, None)
        finally:
            stack.close()
            if bar is not None:
                bar.close()

    def _finish(
        self, items: list[dict[str, Any]], paths: list[Path], bar: Any, threads: int | None
    ) -> Iterator[Prediction | Skipped]:
        """Run the network on the decoded items; yield their records in input order."""
        batch = collate_photos(items)
        results: list[Prediction | Skipped] = [
            Skipped(i, paths[i], reason, detail) for i, reason, detail in batch["skips"]
        ]
        if batch["index"]:
            with self.model.limit_threads(threads):
                outputs, conf = self.predict_canvases(batch["canvas"], batch["aspect"])
            k = len(self.model.info.aspect_classes)
            for row, index in enumerate(batch["index"]):
                result = self._record(
                    paths[index],
                    index,
                    outputs[row, :5],
                    None if conf is None else float(conf[row]),
                    batch["width"][row],
                    batch["height"][row],
                    batch["orientation"][row],
                )
                if k and isinstance(result, Prediction):
                    extra = [float(v) for v in outputs[row, 5:]]
                    if all(math.isfinite(v) for v in extra):
                        result = dataclasses.replace(
                            result,
                            aspect_probs=tuple(extra[:k]),
                            p_crop=min(max(extra[k], 0.0), 1.0),
                            quality=min(max(extra[k + 1], 0.0), 1.0),
                        )
                results.append(result)
        results.sort(key=lambda r: r.index)
        for result in results:
            if isinstance(result, Skipped):
                logger.warning("skipped %s: %s (%s)", result.source, result.reason, result.detail)
            yield result
        if bar is not None:
            bar.update(len(results))

    @staticmethod
    def _record(
        path: Path,
        index: int,
        values: Tensor,
        confidence: float | None,
        width: int,
        height: int,
        orientation: int,
    ) -> Prediction | Skipped:
        numbers = [float(v) for v in values]
        if not all(math.isfinite(v) for v in numbers):
            return Skipped(index, path, INVALID_CROP, f"the model returned {numbers}")
        try:
            crop = Crop(*(min(max(v, 0.0), 1.0) for v in numbers[:4]), numbers[4])
        except ValueError as exc:
            return Skipped(index, path, INVALID_CROP, f"the model returned an invalid crop: {exc}")
        if confidence is not None and not math.isfinite(confidence):
            confidence = 0.0
        return Prediction(index, path, int(width), int(height), int(orientation), crop, confidence)
