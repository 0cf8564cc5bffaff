"""The crop model: torchvision backbone, valid-by-construction head, Lightning system."""

from cropperhead.model.module import CropRegressor

__all__ = ["CropRegressor"]
