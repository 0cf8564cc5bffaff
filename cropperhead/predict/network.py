"""The network prediction runs and ``cropperhead export`` writes, without Lightning.

:class:`CropNet` is a :class:`~cropperhead.model.CropRegressor`'s backbone and head as a
plain module, ``(images, aspect) -> [B, 5 + E]`` (the crop, then for the centre head the
aspect-class probabilities, p_crop and quality). For prediction from a checkpoint,
:func:`inference_net` makes a copy with every BatchNorm folded into the convolution
before it (:func:`fold_batchnorm`), checked against the original.
"""

from __future__ import annotations

import copy
import logging

import torch
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

logger = logging.getLogger(__name__)


class CropNet(nn.Module):
    """Backbone + head of a CropRegressor as a plain module: ``(images, aspect) -> outputs``.

    This is what ``cropperhead export`` writes and what prediction runs; no Lightning.

    Args:
        backbone: the checkpoint's backbone (feature maps).
        head: the checkpoint's head (with its crop parametrisation).
        aspect_allowed: the checkpoint's ``aspect_allowed`` buffer (centre head).
        learns_decision: the checkpoint's ``learns_decision`` buffer (centre head).
    """

    def __init__(
        self,
        backbone: nn.Module,
        head: nn.Module,
        aspect_allowed: Tensor | None = None,
        learns_decision: Tensor | None = None,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        allowed = torch.ones(1, dtype=torch.bool) if aspect_allowed is None else aspect_allowed
        learns = torch.tensor(False) if learns_decision is None else learns_decision
        self.register_buffer("aspect_allowed", allowed.detach().clone())
        self.register_buffer("learns_decision", learns.detach().clone())

    @classmethod
    def of(cls, regressor: nn.Module) -> CropNet:
        """The network of a CropRegressor (shares its modules)."""
        return cls(
            regressor.backbone,
            regressor.head,
            getattr(regressor, "aspect_allowed", None),
            getattr(regressor, "learns_decision", None),
        )

    def forward(self, images: Tensor, aspect: Tensor) -> Tensor:
        """``[B, 3, S, S]`` normalised images and ``[B]`` aspects -> ``[B, 5 + E]``.

        The crop, then (centre head) the aspect-class probabilities, p_crop and quality:
        model/heads.py ``inference_columns``.
        """
        from cropperhead.model.heads import CentreHead, inference_columns

        if not isinstance(self.head, CentreHead):
            return self.head(self.backbone(images), aspect)
        out = self.head(self.backbone(images), aspect, images)
        return inference_columns(out, self.aspect_allowed, self.learns_decision)


def fold_batchnorm(module: nn.Module) -> nn.Module:
    """Fold every BatchNorm2d that directly follows a Conv2d into it (eval mode, in place).

    Children are taken in registration order, which is execution order in torchvision's
    ResNets and in the crop head; :func:`inference_net` checks the result against the
    unfolded network and keeps the latter if they differ.
    """
    for child in module.children():
        fold_batchnorm(child)
    names = list(module._modules)
    for first, second in zip(names, names[1:], strict=False):
        conv, norm = module._modules[first], module._modules[second]
        if (
            isinstance(conv, nn.Conv2d)
            and isinstance(norm, nn.BatchNorm2d)
            and norm.track_running_stats
            and conv.out_channels == norm.num_features
        ):
            module._modules[first] = fuse_conv_bn_eval(conv, norm)
            module._modules[second] = nn.Identity()
    return module


def inference_net(regressor: nn.Module, image_size: int, channels_last: bool = True) -> nn.Module:
    """A CropRegressor's network for prediction: a copy with BatchNorm folded into the convs.

    Folding spares the CPU a normalisation pass after every convolution of a ResNet, a
    sizeable part of its time. The folded copy is compared with the original on a random
    batch; beyond 1e-4 (never seen) the original is used.
    """
    reference = CropNet.of(regressor).eval()
    folded = fold_batchnorm(copy.deepcopy(reference)).eval()
    if channels_last:
        folded = folded.to(memory_format=torch.channels_last)
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(2, 3, image_size, image_size, generator=generator)
    aspect = torch.tensor([1.5, 0.7])
    with torch.inference_mode():
        diff = float((folded(images, aspect) - reference(images, aspect)).abs().max())
    if not diff <= 1e-4:
        logger.debug("BatchNorm folding changed the output by %.2g; not folding", diff)
        return reference
    return folded


__all__ = ["CropNet", "fold_batchnorm", "inference_net"]
