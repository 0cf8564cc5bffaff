"""Training augmentations on device tensors, per batch: the cache path's other half.

With ``data.cache=true`` the loader hands over letterboxed ``[B, S, S, 3]`` uint8 canvases
(:mod:`cropperhead.data.cache`); after the copy to the GPU,
``CropDataModule.on_after_batch_transfer`` calls :class:`GpuAugment`, which

- mirrors (``hflip_p``) the canvas and moves the label exactly as
  :class:`~cropperhead.data.transforms.CropAugment` does: the output picture's corners
  are mirrored and renamed, so the new top-left corner is the old top-right one seen in a
  mirror and the angle is negated (for a turned crop this is *not* ``left' = 1 - right``;
  :func:`hflip_crops` works in the photo's true aspect);
- jitters brightness, contrast, saturation and hue (``light`` and ``default``) inside the
  photo only (letterbox padding stays the mean colour, as on the CPU path);
- blurs or adds noise (``default``);
- normalises with the ImageNet statistics, with the CPU path's float32 arithmetic, so that
  without augmentation a batch equals :class:`~cropperhead.data.dataset.CropDataset`'s
  exactly; the result is ``[B, 3, S, S]`` float32 in channels-last memory.

Box-safe random crops (``strong``) need the whole photo, which the cache no longer has:
that preset is refused with the cache.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor

from cropperhead.data.transforms import MEAN, PRESETS, STD
from cropperhead.geometry.boxes import crop_to_frame, frame_to_crop

GPU_PRESETS = ("none", "light", "default")

# RGB <-> YIQ: hue turns and saturation scales the (I, Q) chroma plane.
_RGB_TO_YIQ = (
    (0.299, 0.587, 0.114),
    (0.595716, -0.274453, -0.321263),
    (0.211456, -0.522591, 0.311135),
)


def normalize_uint8(images: Tensor) -> Tensor:
    """``[B, S, S, 3]`` uint8 canvases to ``[B, 3, S, S]`` ImageNet-normalised float32.

    The arithmetic is CropDataset's (float32 ``(x - 255 * mean) / (255 * std)``), so the
    values are identical; the result is channels-last in memory (free: it already is).
    """
    x = images.permute(0, 3, 1, 2).float()
    return _normalize(x)


@functools.lru_cache(maxsize=8)
def _constants(device: torch.device) -> dict[str, Tensor]:
    """Per-device constants, made once: a host-to-device copy per batch would sync."""
    yiq = torch.tensor(_RGB_TO_YIQ, dtype=torch.float32)
    cpu = {
        # float32 MEAN * 255 as numpy computes it in CropDataset.
        "mean": torch.tensor(MEAN, dtype=torch.float32).view(1, 3, 1, 1) * 255,
        "std": torch.tensor(STD, dtype=torch.float32).view(1, 3, 1, 1) * 255,
        "gray": yiq[0].view(1, 3, 1, 1).clone(),
        "yiq": yiq,
        "yiq_inv": torch.linalg.inv(yiq),
        "taps": torch.arange(-2, 3, dtype=torch.float32),
    }
    return {k: v.to(device) for k, v in cpu.items()}


def _normalize(x: Tensor) -> Tensor:
    c = _constants(x.device)
    return ((x - c["mean"]) / c["std"]).contiguous(memory_format=torch.channels_last)


def hflip_crops(crops: Tensor, aspect: Tensor) -> Tensor:
    """The crops of horizontally mirrored photos (display frame).

    The output picture's corners are mirrored (``x -> W' - x``) and renamed as seen in
    the mirrored picture (TL <-> TR, BL <-> BR), the angle is negated; computed with the
    true aspect ``W'/H'`` because turned corners depend on it.

    Args:
        crops: ``[B, 5]`` display-frame crops.
        aspect: ``[B]`` display width / height.

    Returns:
        ``[B, 5]`` crops, same dtype.
    """
    dtype = torch.float32 if crops.device.type == "mps" else torch.float64
    c, a = crops.to(dtype), aspect.to(dtype)
    cx, cy, p, q, theta = crop_to_frame(c, a, 1.0).unbind(-1)
    mirrored = torch.stack([a - cx, cy, p, q, -theta], -1)
    out = frame_to_crop(mirrored, a, 1.0)
    out[:, 4] = -c[:, 4]  # exactly, as CropAugment does (no deg -> rad -> deg round trip)
    return out.to(crops.dtype)


def hflip_content_boxes(boxes: Tensor, size: int) -> Tensor:
    """``[B, 4]`` ``(x0, y0, w, h)`` boxes on a ``size`` canvas after a mirror."""
    out = boxes.clone()
    out[:, 0] = size - boxes[:, 0] - boxes[:, 2]
    return out


def content_mask(boxes: Tensor, size: int) -> Tensor:
    """``[B, 1, S, S]`` bool: True on the photo, False on the letterbox padding."""
    r = torch.arange(size, device=boxes.device, dtype=boxes.dtype)
    x0, y0, w, h = (boxes[:, i].view(-1, 1, 1, 1) for i in range(4))
    inside_x = (r.view(1, 1, 1, -1) >= x0) & (r.view(1, 1, 1, -1) < x0 + w)
    inside_y = (r.view(1, 1, -1, 1) >= y0) & (r.view(1, 1, -1, 1) < y0 + h)
    return inside_x & inside_y


def _uniform(n: int, low: float, high: float, device: torch.device) -> Tensor:
    return torch.empty(n, device=device).uniform_(low, high)


class GpuAugment:
    """A named augmentation preset for decode-free batches (see the module docstring).

    Args:
        preset: ``none``, ``light`` or ``default`` (``strong`` needs the CPU path).
        hflip_p: probability of a horizontal flip per photo.
        jitter_p: probability of the colour jitter per photo.
        brightness: brightness factor range ``1 +- brightness``.
        contrast: contrast factor range ``1 +- contrast``.
        saturation: saturation factor range ``1 +- saturation``.
        hue: hue turn range ``+- hue`` of a full turn.
        blur_noise_p: probability of a Gaussian blur or Gaussian noise (``default``).

    Raises:
        ValueError: an unknown preset, or ``strong``.
    """

    def __init__(
        self,
        preset: str = "default",
        hflip_p: float = 0.5,
        jitter_p: float = 0.8,
        brightness: float = 0.25,
        contrast: float = 0.25,
        saturation: float = 0.25,
        hue: float = 0.03,
        blur_noise_p: float = 0.3,
    ) -> None:
        if preset not in GPU_PRESETS:
            hint = (
                " (box-safe crops need the whole photo: use data.cache=false)"
                if preset in PRESETS
                else ""
            )
            raise ValueError(
                f"with data.cache=true the augment preset must be one of "
                f"{', '.join(GPU_PRESETS)}, got {preset!r}{hint}"
            )
        self.preset = preset
        self.hflip_p = hflip_p
        self.jitter_p = jitter_p
        self.brightness = brightness
        self.contrast = contrast
        self.saturation = saturation
        self.hue = hue
        self.blur_noise_p = blur_noise_p

    def __call__(self, batch: dict[str, Tensor], train: bool) -> dict[str, Tensor]:
        """Normalise (and, when ``train``, augment) a batch of uint8 canvases.

        Args:
            batch: a :class:`~cropperhead.data.cache.CachedCropDataset` batch on its device.
            train: apply the preset (False: normalise only, as for validation).

        Returns:
            A new batch dict: ``image`` ``[B, 3, S, S]`` float32 (channels-last memory),
            ``crop`` and ``content_box`` moved with any flip, the other keys unchanged.
        """
        images = batch["image"]
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(
                f"GpuAugment expects [B, S, S, 3] uint8 canvases, got {tuple(images.shape)} "
                f"{images.dtype}"
            )
        out = dict(batch)
        if not train or self.preset == "none" or len(images) == 0:
            out["image"] = normalize_uint8(images)
            return out
        size = images.shape[1]
        n, device = len(images), images.device
        x = images.permute(0, 3, 1, 2).float()  # [B, 3, S, S], channels-last memory
        crops, boxes = batch["crop"], batch["content_box"]

        # No data-dependent branches below: a host round trip per batch would stall the GPU.
        if self.hflip_p > 0:
            flip = torch.rand(n, device=device) < self.hflip_p
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
            crops = torch.where(flip.view(-1, 1), hflip_crops(crops, batch["aspect"]), crops)
            boxes = torch.where(flip.view(-1, 1), hflip_content_boxes(boxes, size), boxes)
        out["crop"], out["content_box"] = crops, boxes

        mask = content_mask(boxes, size)
        padded = x
        if self.jitter_p > 0:
            x = self._colour(x, mask)
        if self.preset == "default" and self.blur_noise_p > 0:
            x = self._blur_or_noise(x)
        x = torch.where(mask, x.clamp_(0, 255), padded)
        out["image"] = _normalize(x)
        return out

    def _colour(self, x: Tensor, mask: Tensor) -> Tensor:
        """Brightness, contrast, then saturation and hue in one 3x3 matrix per photo."""
        n, device = len(x), x.device
        const = _constants(device)
        on = torch.rand(n, device=device) < self.jitter_p
        b = torch.where(on, _uniform(n, 1 - self.brightness, 1 + self.brightness, device), 1.0)
        c = torch.where(on, _uniform(n, 1 - self.contrast, 1 + self.contrast, device), 1.0)
        s = torch.where(on, _uniform(n, 1 - self.saturation, 1 + self.saturation, device), 1.0)
        h = torch.where(on, _uniform(n, -self.hue, self.hue, device), 0.0) * (2 * math.pi)
        x = (x * b.view(-1, 1, 1, 1)).clamp_(0, 255)
        gray = (x * const["gray"]).sum(1, keepdim=True)
        m = mask.to(x.dtype)
        mean = (gray * m).sum((2, 3), keepdim=True) / m.sum((2, 3), keepdim=True).clamp_min(1)
        x = ((x - mean) * c.view(-1, 1, 1, 1) + mean).clamp_(0, 255)
        chroma = torch.zeros(n, 3, 3, device=device)
        chroma[:, 0, 0] = 1
        chroma[:, 1, 1], chroma[:, 1, 2] = s * torch.cos(h), -s * torch.sin(h)
        chroma[:, 2, 1], chroma[:, 2, 2] = s * torch.sin(h), s * torch.cos(h)
        matrix = const["yiq_inv"] @ chroma @ const["yiq"]  # [B, 3, 3]
        return torch.einsum("bij,bjhw->bihw", matrix, x)

    def _blur_or_noise(self, x: Tensor) -> Tensor:
        """One of a 5-tap Gaussian blur or Gaussian noise on ``blur_noise_p`` of the photos."""
        n, device = len(x), x.device
        pick = torch.rand(n, device=device)
        blur = pick < self.blur_noise_p / 2
        noise = (pick >= self.blur_noise_p / 2) & (pick < self.blur_noise_p)
        std = _uniform(n, 0.02, 0.06, device) * 255 * noise
        x = x + torch.randn_like(x) * std.view(-1, 1, 1, 1)
        # Blur every photo with its own sigma and keep it where picked: fixed shapes, no
        # host round trip; two depthwise 5-tap passes cost little next to the network.
        sigma = _uniform(n, 0.5, 1.5, device)
        taps = _constants(device)["taps"]
        kernel = torch.exp(-(taps.view(1, -1) ** 2) / (2 * sigma.view(-1, 1) ** 2))
        kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(3, 0)  # [B*3, 5]
        size = x.shape[-1]
        flat = x.reshape(1, n * 3, size, size)
        flat = F.conv2d(
            F.pad(flat, (2, 2, 0, 0), mode="replicate"), kernel.view(-1, 1, 1, 5), groups=n * 3
        )
        flat = F.conv2d(
            F.pad(flat, (0, 0, 2, 2), mode="replicate"), kernel.view(-1, 1, 5, 1), groups=n * 3
        )
        return torch.where(blur.view(-1, 1, 1, 1), flat.reshape(n, 3, size, size), x)
