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
import torch.nn.functional as F  # noqa: N812
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

    def forward(self, logits: Tensor, aspect: Tensor, centre: Tensor | None = None) -> Tensor:
        """Turn logits into crops.

        Args:
            logits: ``[B, 5]`` (angle, aspect, scale, centre x, centre y), any values.
            aspect: ``[B]`` display width / height of each photo.
            centre: ``[B, 2]`` the wanted centre in fractions of the photo (x, y), or
                None: the centre logits place it. A centre the crop cannot have (too
                close to an edge for its size) is moved to the nearest one it can.

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
        if centre is None:
            cx = ex + (photo_w - 2 * ex).clamp_min(0) * torch.sigmoid(z[:, 3])
            cy = ey + (photo_h - 2 * ey).clamp_min(0) * torch.sigmoid(z[:, 4])
        else:
            centre = centre.float()
            cx = torch.maximum(torch.minimum(centre[:, 0] * photo_w, photo_w - ex), ex)
            cy = torch.maximum(torch.minimum(centre[:, 1] * photo_h, photo_h - ey), ey)
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


def canvas_cells_to_photo(rows: int, cols: int, aspect: Tensor) -> Tensor:
    """Centres of a ``rows x cols`` grid over the letterbox canvas, in photo fractions.

    The photo lies centred on the square canvas, its long side across it
    (data/transforms.py ``letterbox``); a cell centre outside the photo gets a value
    outside ``[0, 1]``.

    Args:
        rows: grid rows.
        cols: grid columns.
        aspect: ``[B]`` photo width / height.

    Returns:
        ``[B, rows * cols, 2]`` (x, y), row-major.
    """
    a = aspect.float()
    ys = (torch.arange(rows, device=a.device, dtype=a.dtype) + 0.5) / rows
    xs = (torch.arange(cols, device=a.device, dtype=a.dtype) + 0.5) / cols
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    gx, gy = gx.reshape(1, -1), gy.reshape(1, -1)
    # Width and height of the photo on the canvas, in canvas fractions.
    w = torch.where(a >= 1, torch.ones_like(a), a).unsqueeze(1)
    h = torch.where(a >= 1, 1 / a, torch.ones_like(a)).unsqueeze(1)
    return torch.stack([(gx - (1 - w) / 2) / w, (gy - (1 - h) / 2) / h], -1)


class OrientationHistogram(nn.Module):
    """How the lines of a photo lean: histograms of edge directions near level and plumb.

    A photographer who straightens turns the crop by the tilt of the horizon, of walls,
    of door frames, of the line where a studio floor meets its backdrop. Those are long
    straight edges that are nearly level or nearly plumb; the direction of the
    brightness gradient along them says how far they lean. This module measures it
    directly: Sobel gradients of the picture's luma, each gradient direction folded
    modulo 90 degrees (level and plumb edges tell the same tilt), binned into ``bins``
    over ``[-span, span]`` degrees, weighted by the gradient's magnitude, over the photo
    only (the letterbox padding and its border are left out: they are perfectly level).
    It does so at several scales, the luma blurred by a Gaussian of each of ``scales``
    (fractions of the input side) first: fine texture and noise swamp a long faint line
    at full resolution, not once blurred. The head reads the histograms beside the learnt
    features; a network trained from scratch on a few hundred photos finds this cue
    slowly on its own. A mirrored photo gives mirrored histograms.

    Args:
        bins: bins of each histogram.
        span: half the range of leans counted, degrees.
        scales: the blurs, as fractions of the input side (0: none).
    """

    def __init__(
        self,
        bins: int = 31,
        span: float = 15.0,
        scales: tuple[float, ...] = (1 / 128, 2 / 128, 3 / 128),
    ):
        super().__init__()
        if bins < 2 or not 0 < span < 45 or not scales:
            raise ValueError(f"need bins >= 2, 0 < span < 45 and scales, got {bins!r}, {span!r}")
        sobel_x = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8
        self.register_buffer("kernels", torch.stack([sobel_x, sobel_x.t()]).unsqueeze(1))
        self.register_buffer("centres", torch.linspace(-span, span, bins))
        self.step = 2 * span / (bins - 1)
        self.bins = int(bins)
        self.scales = tuple(float(v) for v in scales)

    @property
    def features(self) -> int:
        """Length of the output vector."""
        return self.bins * len(self.scales)

    @staticmethod
    def _blur(x: Tensor, sigma_px: float) -> Tensor:
        if sigma_px <= 0:
            return x
        radius = max(1, int(math.ceil(3 * sigma_px)))
        t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
        k = torch.exp(-0.5 * (t / sigma_px) ** 2)
        k = k / k.sum()
        x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
        return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), k.view(1, 1, -1, 1))

    def _histogram(self, luma: Tensor, inside: Tensor) -> Tensor:
        grad = F.conv2d(luma, self.kernels.to(luma), padding=1)  # [B, 2, S, S]
        gx, gy = grad[:, 0], grad[:, 1]
        weight = (torch.sqrt(gx * gx + gy * gy + 1e-12) * inside).flatten(1)  # [B, P]
        lean = torch.rad2deg(torch.atan2(gy, gx))
        lean = torch.remainder(lean + 45.0, 90.0) - 45.0  # [-45, 45): level and plumb alike
        # Linear binning: each edge votes for the two nearest bins (no [B, P, bins] tensor).
        pos = (lean.flatten(1) - self.centres[0]) / self.step
        low = torch.floor(pos)
        frac = pos - low
        low = low.long()
        hist = weight.new_zeros(weight.shape[0], self.bins + 2)
        for index, share in ((low, 1 - frac), (low + 1, frac)):
            keep = (index >= 0) & (index < self.bins)
            hist.scatter_add_(1, torch.where(keep, index, self.bins + 1), weight * share * keep)
        hist = hist[:, : self.bins]
        # Shares of the edges, times the bin count: a bin is 1 on average, on the scale of
        # the head's other inputs (shares of ~0.03 would take the MLP many steps to use).
        return hist * (self.bins / hist.sum(1, keepdim=True).clamp_min(1e-6))

    def forward(self, images: Tensor, aspect: Tensor) -> Tensor:
        """``[B, 3, S, S]`` letterboxed images and ``[B]`` aspects -> ``[B, features]``.

        Always in fp32: under bf16 autocast the Sobel and blur convolutions would round
        the gradients' directions by more than the tenths of a degree they measure.
        """
        with torch.autocast(images.device.type, enabled=False):
            return self._forward(images.float(), aspect)

    def _forward(self, x: Tensor, aspect: Tensor) -> Tensor:
        luma = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1)
        size = x.shape[-1]
        a = aspect.to(x)
        cols, rows = canvas_cells_to_photo(size, size, a).unbind(-1)
        # Leave out a band along the photo's edges, wider for the blurrier histograms.
        short = torch.minimum(a, 1 / a).view(-1, 1)
        parts = []
        for scale in self.scales:
            margin = (3.0 / size + 3 * scale) / short
            inside = (
                (cols > margin) & (cols < 1 - margin) & (rows > margin) & (rows < 1 - margin)
            ).view(-1, size, size)
            parts.append(self._histogram(self._blur(luma, scale * size), inside))
        return torch.cat(parts, 1)


def attention_pool(scores: Tensor, values: Tensor, inside: Tensor) -> Tensor:
    """Each map's softmax-weighted mean of the values, over the places inside the photo.

    Args:
        scores: ``[B, K, N]`` K maps' scores of the N places.
        values: ``[B, C, N]`` the features at each place.
        inside: ``[B, N]`` bool, the places on the photo (the letterbox padding is not).

    Returns:
        ``[B, K, C]``.
    """
    scores = torch.where(inside.unsqueeze(1), scores, torch.full_like(scores, -1e4))
    return torch.einsum("bkn,bcn->bkc", torch.softmax(scores, -1), values)


class CentreHead(nn.Module):
    """Backbone feature maps -> valid crops, placed by a heatmap of the crop's centre.

    Regressing a whole crop from pooled features lets a network settle on the average
    crop and ignore where the subject is. This head keeps the spatial inductive bias of
    the convolutions (in the spirit of CenterNet): a small feature pyramid (stride 8)
    scores every place of the photo as the crop's centre, a softmax over the places
    inside the photo turns the scores into a distribution, and its expectation (a soft
    argmax, differentiable) is the centre. Angle, aspect and size come from the features
    at that place (the distribution's weighted mean) together with a coarse grid of the
    whole photo (the horizon, the light) and the photo's aspect; so do three more
    outputs: the photographer's aspect class, whether they would crop at all, and how
    good the crop is likely to be. The crop itself goes through
    :class:`CropParametrisation`, so it is valid by construction whatever the scores.

    Args:
        in_channels: channels of the backbone maps at strides 8, 16 and 32.
        max_angle: largest straighten angle in degrees.
        width: channels of the pyramid.
        hidden: width of the hidden layer of the crop MLP.
        dropout: dropout before the MLP's last layer.
        grid: side of the coarse pooled grid of the whole photo.
        n_aspect_classes: outputs of the aspect-class logits.
        orientation_bins: bins of an :class:`OrientationHistogram` of the input picture
            read beside the features (0: none).
        attention_heads: learnt attention maps over the pyramid, each pooling the
            features of the places it scores highest (0: none). The crop's centre is
            often not where the subject is (a subject on a thirds point lies a sixth of
            the crop away from it), so the features at the centre say little about how
            big the subject is; these let the size be read where the subject is.
    """

    def __init__(
        self,
        in_channels: tuple[int, int, int],
        max_angle: float = 15.0,
        width: int = 64,
        hidden: int = 256,
        dropout: float = 0.0,
        grid: int = 4,
        n_aspect_classes: int = 1,
        orientation_bins: int = 0,
        attention_heads: int = 0,
    ):
        super().__init__()
        c8, c16, c32 = (int(c) for c in in_channels)

        def lateral(c: int) -> nn.Module:
            return nn.Sequential(nn.Conv2d(c, width, 1, bias=False), nn.BatchNorm2d(width))

        self.lateral = nn.ModuleList([lateral(c8), lateral(c16), lateral(c32)])
        self.smooth = nn.Sequential(
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        self.heat = nn.Conv2d(width, 1, 1)
        self.attention_heads = int(attention_heads)
        self.attend = nn.Conv2d(width, self.attention_heads, 1) if self.attention_heads else None
        self.context = nn.Sequential(
            nn.Conv2d(c32, 32, 1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(grid),
            nn.Flatten(),
        )
        self.orientation = OrientationHistogram(orientation_bins) if orientation_bins else None
        extra = self.orientation.features if self.orientation is not None else 0
        features = width + 32 * grid * grid + 1 + extra
        if self.attend is not None:
            # The pooled features of each map, and where the crop's centre lies.
            features += self.attention_heads * width + 2
        self.mlp = nn.Sequential(
            nn.Linear(features, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, 3)
        )
        self.extras = nn.Sequential(
            nn.Linear(features, hidden // 2),
            nn.GELU(),
            nn.Linear(hidden // 2, n_aspect_classes + 2),
        )
        self.n_aspect_classes = int(n_aspect_classes)
        self.parametrisation = CropParametrisation(max_angle=max_angle)
        # Start at "most of the photo, unturned, of the photo's aspect": a sane prior.
        last = self.mlp[-1]
        nn.init.zeros_(last.weight)
        with torch.no_grad():
            last.bias.copy_(torch.tensor([0.0, 0.0, 1.5]))
        nn.init.zeros_(self.heat.weight)
        nn.init.zeros_(self.heat.bias)
        if self.attend is not None:
            # Uniform at first: each map starts as the mean over the photo.
            nn.init.zeros_(self.attend.weight)
            nn.init.zeros_(self.attend.bias)

    def forward(
        self, features: tuple[Tensor, ...], aspect: Tensor, images: Tensor | None = None
    ) -> dict[str, Tensor]:
        """Feature maps (strides 8, 16, 32) and ``[B]`` aspects -> the head's outputs.

        ``images`` (the network's input) is needed when the head reads an orientation
        histogram.

        Returns:
            ``crop`` ``[B, 5]`` valid display-frame crops; ``centre`` ``[B, 2]`` the soft
            argmax (photo fractions); ``heat`` ``[B, N]`` the centre scores of the N
            grid places, very negative outside the photo; ``cells`` ``[B, N, 2]`` the
            places (photo fractions); ``aspect_logits`` ``[B, K]``; ``crop_logit`` and
            ``quality_logit`` ``[B]``.
        """
        if len(features) != 3:
            raise ValueError(f"the centre head takes 3 feature maps, got {len(features)}")
        c8, c16, c32 = features
        top = self.lateral[2](c32)
        mid = self.lateral[1](c16) + F.interpolate(top, size=c16.shape[-2:], mode="nearest")
        fine = self.lateral[0](c8) + F.interpolate(mid, size=c8.shape[-2:], mode="nearest")
        pyramid = self.smooth(fine)
        # The read-out in fp32 even under mixed precision: bf16 keeps 8 bits of mantissa,
        # a few tenths of a percent of a crop edge or of the angle, as much as the angle
        # error the model is meant to reach. It is a small share of the step's work.
        with torch.autocast(pyramid.device.type, enabled=False):
            return self._read(pyramid.float(), c32.float(), aspect, images)

    def _read(
        self, pyramid: Tensor, c32: Tensor, aspect: Tensor, images: Tensor | None
    ) -> dict[str, Tensor]:
        b, c, h, w = pyramid.shape
        cells = canvas_cells_to_photo(h, w, aspect.to(pyramid))  # [B, N, 2]
        inside = ((cells >= 0) & (cells <= 1)).all(-1)  # [B, N]
        heat = self.heat(pyramid).flatten(1)  # [B, N]
        heat = torch.where(inside, heat, torch.full_like(heat, -1e4))
        weights = torch.softmax(heat, 1)
        centre = (weights.unsqueeze(-1) * cells.clamp(0, 1)).sum(1)  # [B, 2]
        local = torch.einsum("bn,bcn->bc", weights, pyramid.flatten(2))  # [B, C]
        log_aspect = torch.log(aspect.to(pyramid)).unsqueeze(1)
        parts = [local, self.context(c32), log_aspect]
        if self.attend is not None:
            pooled = attention_pool(self.attend(pyramid).flatten(2), pyramid.flatten(2), inside)
            parts += [pooled.flatten(1), centre]
        if self.orientation is not None:
            if images is None:
                raise ValueError("this head reads the picture's orientation: pass images")
            parts.append(self.orientation(images, aspect))
        joint = torch.cat(parts, 1)
        z = self.mlp(joint)
        logits = torch.cat([z, torch.zeros_like(z[:, :2])], 1)  # centre logits unused
        crop = self.parametrisation(logits, aspect, centre=centre)
        extra = self.extras(joint)
        k = self.n_aspect_classes
        return {
            "crop": crop,
            "centre": centre,
            "heat": heat,
            "cells": cells,
            "aspect_logits": extra[:, :k],
            "crop_logit": extra[:, k],
            "quality_logit": extra[:, k + 1],
        }


def inference_columns(out: dict[str, Tensor], allowed: Tensor, learns_decision: Tensor) -> Tensor:
    """A head's outputs as prediction and export hand them on: ``[B, 5 + E]``.

    Columns: the crop (5); for the centre head then the probability of each aspect class
    (``allowed`` False: 0), the probability that the photographer crops the photo (1
    where ``learns_decision`` is False: nothing taught otherwise) and the quality score.

    Args:
        out: :class:`CentreHead` outputs (or just ``{"crop": ...}``: E = 0).
        allowed: ``[K]`` bool, the photographer's aspect classes.
        learns_decision: bool scalar tensor.
    """
    crop = out["crop"].float()
    if "aspect_logits" not in out:
        return crop
    logits = out["aspect_logits"].float().masked_fill(~allowed.to(crop.device), -1e4)
    probs = torch.softmax(logits, 1)
    p_crop = torch.where(
        learns_decision.to(crop.device),
        torch.sigmoid(out["crop_logit"].float()),
        torch.ones_like(crop[:, 0]),
    )
    quality = torch.sigmoid(out["quality_logit"].float())
    return torch.cat([crop, probs, p_crop.unsqueeze(1), quality.unsqueeze(1)], 1)
