"""Training data: the scanned manifest as tensors, splits, label-exact augmentations."""

from cropperhead.data.datamodule import CropDataModule
from cropperhead.data.dataset import CropDataset, DatasetError, Sample, read_manifest

__all__ = ["CropDataModule", "CropDataset", "DatasetError", "Sample", "read_manifest"]
