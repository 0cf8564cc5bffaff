"""A regression head whose outputs are valid crops by construction.

Whatever the logits (even +-1e4), the head returns crops with ``0 <= left < right <= 1``,
``0 <= top < bottom <= 1``, ``|angle| <= max_angle`` and, for a turned crop, all four
corners inside the photo. Validity comes from the parametrisation, not from a penalty:

1. ``angle = max_angle * tanh(z0)``.
2. The output aspect ``w/h = exp(rho)``, with ``rho`` squeezed into the interval where
   ``left < right`` and ``top < bottom`` hold at that angle (a turned crop's TL/BR x or
   y order flips when its aspect passes ``tan |angle|``) and within ``+-log(max_aspect)``.
3. The largest crop of that aspect and angle that fits the photo *anywhere* has half
   size ``k``; the crop's size is ``scale * k`` with ``scale`` in ``[min_scale, 1]``.
4. Its axis-aligned half extents ``(ex, ey)`` leave room for the centre in
   ``[ex, W - ex] x [ey, H - ey]``; ``sigmoid`` picks the point in that interval.

Units: the display frame is ``aspect x 1`` (W'/H' wide, 1 high), so only the photo's
aspect is needed; outputs are the crop record ``[B, 5]`` in fractions.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from cropperhead.geometry.boxes import frame_to_crop

N_LOGITS = 5


class CropParametrisation(nn.Module):
    """Maps ``[B, 5]`` logits and ``[B]`` photo aspects to ``[B, 5]`` valid crops.

    Args:
        max_angle: largest straighten angle in degrees, in (0, 45].
        max_aspect: largest output aspect (and smallest ``1 / max_aspect``).
        min_scale: smallest crop, as a fraction of the largest crop of its aspect.
    """

    def __init__(self, max_angle: float = 15.0, max_aspect: float = 4.0, min_scale: float = 0.1):
        super().__init__()
        if not 0 < max_angle <= 45:
            raise ValueError(f"max_angle must lie in (0, 45] degrees, got {max_angle!r}")
        if not max_aspect > 1:
            raise ValueError(f"max_aspect must be > 1, got {max_aspect!r}")
        if not 0 < min_scale < 1:
            raise ValueError(f"min_scale must lie in (0, 1), got {min_scale!r}")
        self.max_angle = float(max_angle)
        self.log_max_aspect = math.log(max_aspect)
        self.min_scale = float(min_scale)

    def forward(self, logits: Tensor, aspect: Tensor) -> Tensor:
        """Turn logits into crops.

        Args:
            logits: ``[B, 5]`` (angle, aspect, scale, centre x, centre y), any values.
            aspect: ``[B]`` display width / height of each photo.

        Returns:
            ``[B, 5]`` display-frame crop records (left, top, right, bottom, angle_deg).
        """
        z = logits.float()
        photo_w = aspect.to(z)
        photo_h = torch.ones_like(photo_w)
        angle_deg = self.max_angle * torch.tanh(z[:, 0])
        theta = torch.deg2rad(angle_deg)
        cos, sin = torch.cos(theta), torch.abs(torch.sin(theta))

        # left < right needs w/h > tan(theta) for theta > 0; top < bottom needs
        # w/h < 1 / tan|theta| for theta < 0. Keep a margin of 5% in log space.
        tan = torch.tan(theta.abs()).clamp_min(1e-6)
        log_tan = torch.log(tan) + 0.05
        limit = torch.full_like(z[:, 1], self.log_max_aspect)
        lo = torch.where(theta > 0, torch.maximum(-limit, log_tan), -limit)
        hi = torch.where(theta < 0, torch.minimum(limit, -log_tan), limit)
        rho = lo + (hi - lo) * torch.sigmoid(z[:, 1])
        out_aspect = torch.exp(rho)

        # Largest half size k of a crop (k * out_aspect, k) that fits the photo at this
        # angle: its bounding half extents must fit half the photo.
        k = torch.minimum(
            photo_w / 2 / (out_aspect * cos + sin), photo_h / 2 / (out_aspect * sin + cos)
        )
        scale = self.min_scale + (1 - self.min_scale) * torch.sigmoid(z[:, 2])
        q = scale * k
        p = q * out_aspect
        ex = p * cos + q * sin
        ey = p * sin + q * cos
        cx = ex + (photo_w - 2 * ex).clamp_min(0) * torch.sigmoid(z[:, 3])
        cy = ey + (photo_h - 2 * ey).clamp_min(0) * torch.sigmoid(z[:, 4])
        crops = frame_to_crop(torch.stack([cx, cy, p, q, theta], -1), photo_w, photo_h)
        # Rounding can leave an edge a hair outside [0, 1]; the maths says it is inside.
        return torch.cat([crops[:, :4].clamp(0, 1), crops[:, 4:]], -1)


class CropHead(nn.Module):
    """Backbone feature maps -> valid crops.

    Global average pooling would throw away *where* things are, which is what a crop is
    about; the head keeps a coarse ``grid x grid`` map of reduced channels of each input
    map instead (``layer3`` at stride 16 for where, ``layer4`` at stride 32 for what).
    The shallower map also gives the loss a short path into the network, which makes
    training from random initialisation (no ImageNet weights) several times faster.

    Args:
        in_channels: channels of each backbone feature map, e.g. ``(256, 512)``.
        max_angle: largest straighten angle in degrees.
        hidden: width of the hidden layer (0: a single linear layer).
        dropout: dropout before the last layer.
        grid: side of the pooled spatial grid.
        reduced: channels of each map after its 1x1 reduction.
    """

    def __init__(
        self,
        in_channels: int | tuple[int, ...],
        max_angle: float = 15.0,
        hidden: int = 256,
        dropout: float = 0.0,
        grid: int = 4,
        reduced: int = 64,
    ):
        super().__init__()
        channels = (in_channels,) if isinstance(in_channels, int) else tuple(in_channels)
        self.reduce = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(c, reduced, 1, bias=False),
                nn.BatchNorm2d(reduced),
                nn.ReLU(inplace=True),
                nn.AdaptiveAvgPool2d(grid),
                nn.Flatten(),
            )
            for c in channels
        )
        # Plus one input: the photo's log aspect (where a crop can go depends on it).
        width = len(channels) * reduced * grid * grid + 1
        layers: list[nn.Module] = []
        if hidden:
            layers += [nn.Linear(width, hidden), nn.GELU()]
            width = hidden
        layers += [nn.Dropout(dropout), nn.Linear(width, N_LOGITS)]
        self.mlp = nn.Sequential(*layers)
        self.parametrisation = CropParametrisation(max_angle=max_angle)
        # Start at "a centred crop of most of the photo, unturned": a sane prior.
        last = self.mlp[-1]
        nn.init.zeros_(last.weight)
        with torch.no_grad():
            last.bias.copy_(torch.tensor([0.0, 0.0, 1.5, 0.0, 0.0]))

    def forward(self, features: Tensor | tuple[Tensor, ...], aspect: Tensor) -> Tensor:
        """Feature maps ``[B, C_i, h_i, w_i]`` and ``[B]`` aspects -> ``[B, 5]`` crops."""
        maps = (features,) if isinstance(features, Tensor) else tuple(features)
        if len(maps) != len(self.reduce):
            raise ValueError(f"the head takes {len(self.reduce)} feature maps, got {len(maps)}")
        pooled = torch.cat([r(m).float() for r, m in zip(self.reduce, maps, strict=True)], 1)
        log_aspect = torch.log(aspect.to(pooled)).unsqueeze(1)
        return self.parametrisation(self.mlp(torch.cat([pooled, log_aspect], 1)), aspect)
