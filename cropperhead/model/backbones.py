"""ResNet backbones from torchvision's registry, with ImageNet weights when they can be had.

``pretrained``:
- ``"auto"`` (default): use the ImageNet weights if they are in torch's cache or can be
  downloaded; otherwise warn once (saying how to get them) and start from random
  initialisation. An offline laptop still trains.
- ``True``: the weights are required; their absence is an error.
- ``False``: random initialisation, never touches the network (tests use this).
"""

from __future__ import annotations

import logging
import socket
import warnings
from pathlib import Path

import torch
from torch import nn
from torchvision.models import get_model, get_model_weights

log = logging.getLogger(__name__)

BACKBONES = ("resnet18", "resnet34", "resnet50")
_DOWNLOAD_TIMEOUT_S = 10.0


class PretrainedWeightsUnavailable(RuntimeError):
    """ImageNet weights were required (``pretrained=true``) and could not be had."""


def _cached_weights_file(weights) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name


def _parse_pretrained(pretrained: bool | str) -> bool | str:
    if isinstance(pretrained, bool):
        return pretrained
    text = str(pretrained).strip().lower()
    if text in ("auto",):
        return "auto"
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no", "none"):
        return False
    raise ValueError(f"pretrained must be auto, true or false, got {pretrained!r}")


def build_backbone(name: str, pretrained: bool | str = "auto") -> tuple[nn.Module, tuple[int, int]]:
    """A torchvision ResNet without its classifier.

    Args:
        name: ``resnet18``, ``resnet34`` or ``resnet50``.
        pretrained: ``"auto"``, ``True`` or ``False`` (see the module docstring).

    Returns:
        ``(module, channels)``: the module maps ``[B, 3, H, W]`` images (ImageNet
        normalisation) to two feature maps, ``layer3`` ``[B, C3, H/16, W/16]`` and
        ``layer4`` ``[B, C4, H/32, W/32]``, without global pooling (where things are
        matters for a crop); ``channels`` is ``(C3, C4)``.

    Raises:
        ValueError: unknown name or pretrained value.
        PretrainedWeightsUnavailable: ``pretrained=True`` and the weights cannot be had.
    """
    if name not in BACKBONES:
        raise ValueError(f"backbone must be one of {', '.join(BACKBONES)}, got {name!r}")
    mode = _parse_pretrained(pretrained)
    model = get_model(name, weights=None)
    if mode:
        weights = get_model_weights(name).DEFAULT
        try:
            state = _load_weights(weights)
        except Exception as exc:  # noqa: BLE001 - any failure to get weights is one outcome
            cached = _cached_weights_file(weights)
            how = (
                f'download them once where there is internet (python -c "import torchvision; '
                f"torchvision.models.get_model('{name}', weights='DEFAULT')\") or copy "
                f"{cached.name} into {cached.parent}"
            )
            if mode is True:
                raise PretrainedWeightsUnavailable(
                    f"ImageNet weights for {name} are not available ({exc}); {how}"
                ) from exc
            warnings.warn(
                f"ImageNet weights for {name} are not available ({type(exc).__name__}: {exc}); "
                f"training from random initialisation. To use them, {how}. "
                f"Set model.pretrained=false to silence this.",
                stacklevel=2,
            )
        else:
            model.load_state_dict(state)
            log.info("loaded ImageNet weights for %s", name)
    channels = (
        model.layer3[0].conv1.in_channels,
        model.layer4[0].conv1.in_channels,
        model.fc.in_features,
    )
    model.avgpool = nn.Identity()
    model.fc = nn.Identity()
    return _FeatureMaps(model), channels


class _FeatureMaps(nn.Module):
    """A torchvision ResNet's convolutional trunk (stem to layer4)."""

    def __init__(self, resnet: nn.Module) -> None:
        super().__init__()
        self.resnet = resnet

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        r = self.resnet
        x = r.maxpool(r.relu(r.bn1(r.conv1(images))))
        c2 = r.layer2(r.layer1(x))
        c3 = r.layer3(c2)
        return c2, c3, r.layer4(c3)


def _load_weights(weights) -> dict[str, torch.Tensor]:
    """The weights' state dict from torch's cache, downloading with a short timeout."""
    if _cached_weights_file(weights).is_file():
        return weights.get_state_dict(progress=False, check_hash=False)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(_DOWNLOAD_TIMEOUT_S)
    try:
        return weights.get_state_dict(progress=False, check_hash=True)
    finally:
        socket.setdefaulttimeout(previous)
