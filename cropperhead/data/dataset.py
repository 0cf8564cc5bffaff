"""The scanned training set as tensors: :class:`CropDataset` (data/manifest.py reads the file)."""

from __future__ import annotations

import logging

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from cropperhead import files
from cropperhead.data.manifest import DatasetError, Sample
from cropperhead.data.transforms import MEAN, STD, CropAugment, PhotoScale, letterbox

log = logging.getLogger(__name__)


class CropDataset(Dataset):
    """Photos letterboxed to ``image_size`` with their crops.

    Items are dicts: ``image`` ``[3, S, S]`` float (ImageNet-normalised), ``crop`` ``[5]``,
    ``aspect`` (display W'/H' of the photo as the network sees it), ``content_box``
    ``[4]`` (x0, y0, w, h of the photo on the canvas) and ``index``.

    Args:
        samples: manifest rows.
        image_size: side of the square input.
        augment: an augmentation preset applied before letterboxing, or None.
    """

    def __init__(self, samples: list[Sample], image_size: int, augment: CropAugment | None = None):
        self.samples = samples
        self.image_size = int(image_size)
        self.augment = augment
        self._mean = np.array(MEAN, dtype=np.float32) * 255
        self._std = np.array(STD, dtype=np.float32) * 255

    def __len__(self) -> int:
        return len(self.samples)

    def _decode(self, index: int) -> tuple[int, np.ndarray]:
        """The image of ``index``, or of the next readable sample when it went bad.

        The DataModule leaves out damaged images when it starts; one that breaks during
        a run (deleted, overwritten) costs a warning, not the run.
        """
        for step in range(len(self.samples)):
            at = (index + step) % len(self.samples)
            try:
                with files.open_regular(self.samples[at].image) as handle, Image.open(handle) as im:
                    return at, np.asarray(im.convert("RGB"))
            except (OSError, SyntaxError, ValueError) as exc:
                log.warning("cannot read %s (%s); using another photo", self.samples[at].image, exc)
        raise DatasetError("no image of the training set can be read any more")

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        index, image = self._decode(index)
        sample = self.samples[index]
        h, w = image.shape[:2]
        scale = PhotoScale(sample.width / w, sample.height / h)
        crop = sample.crop
        if self.augment is not None:
            image, crop, scale = self.augment(image, crop, scale)
            h, w = image.shape[:2]
        aspect = (w * scale.x) / (h * scale.y)
        canvas, box = letterbox(image, self.image_size)
        tensor = torch.from_numpy((canvas.astype(np.float32) - self._mean) / self._std)
        return {
            "image": tensor.permute(2, 0, 1).contiguous(),
            "crop": torch.tensor(crop.as_array(), dtype=torch.float32),
            "aspect": torch.tensor(aspect, dtype=torch.float32),
            "content_box": torch.tensor(box, dtype=torch.float32),
            "index": torch.tensor(index),
        }
