"""What a photographer's cropping habit looks like, from a scanned data set.

Per sample (manifest row), in the display frame of the original photo (``W' x H'``):

- ``angle_deg``: the straighten angle (Lightroom's sign);
- ``aspect``: output width / height of the cropped picture in pixels
  (:func:`cropperhead.geometry.crop_output_size_px`), so a turned crop counts as the
  picture it produces;
- ``scale``: crop area / photo area;
- ``centre_x``, ``centre_y``: the crop's centre, normalised by ``W'`` and ``H'``.

:func:`crop_stats` computes them, :meth:`CropStats.format` writes the text summary and
:func:`plot_stats` draws the four histograms as one PNG (matplotlib, imported lazily).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cropperhead import files
from cropperhead.geometry import Crop, crop_output_size_px

if TYPE_CHECKING:
    from cropperhead.data.manifest import Sample

#: A crop counts as turned above this angle, in degrees.
TURNED_DEG = 0.1
#: The PNG Software tag of the pictures drawn: how an earlier one is recognised.
SOFTWARE_TAG = "CropperHead stats"
#: Common output aspect ratios as (long side, short side), with their names.
COMMON_ASPECTS: tuple[tuple[float, float], ...] = (
    (1, 1),
    (5, 4),
    (4, 3),
    (7, 5),
    (3, 2),
    (16, 10),
    (16, 9),
    (2, 1),
    (3, 1),
)
#: Relative tolerance for snapping an aspect to a common one or to the photo's own.
ASPECT_TOLERANCE = 0.015
FIELDS = ("angle_deg", "aspect", "scale", "centre_x", "centre_y")
_LABELS = {
    "angle_deg": "angle (deg)",
    "aspect": "aspect (w/h)",
    "scale": "scale (area)",
    "centre_x": "centre x",
    "centre_y": "centre y",
}


def snap_aspect(aspect: float, tolerance: float = ASPECT_TOLERANCE) -> str:
    """Name a width/height ratio after the nearest common one, as seen (``"4:5"``).

    Args:
        aspect: output width / height, > 0.
        tolerance: largest relative difference to a common ratio.

    Returns:
        ``"1:1"``, ``"3:2"`` (landscape), ``"2:3"`` (portrait), ... or ``"other"``.
    """
    if not aspect > 0:
        raise ValueError(f"aspect must be positive, got {aspect!r}")
    ratio = max(aspect, 1 / aspect)
    for long, short in COMMON_ASPECTS:
        if abs(ratio - long / short) <= tolerance * long / short:
            a, b = _fmt_side(long), _fmt_side(short)
            return f"{a}:{b}" if aspect >= 1 else f"{b}:{a}"
    return "other"


def _fmt_side(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True)
class CropStats:
    """Per-sample habit measures (arrays of equal length ``[N]``) and their origins.

    Attributes:
        angle_deg: straighten angle in degrees.
        aspect: output width / height of the cropped picture.
        scale: crop area / photo area.
        centre_x: crop centre x, normalised by the display width.
        centre_y: crop centre y, normalised by the display height (down is positive).
        photo_aspect: the photo's display W' / H'.
        photos: distinct source photos.
        origins: samples per origin (xmp-sidecar, lrcat, ...).
    """

    angle_deg: np.ndarray
    aspect: np.ndarray
    scale: np.ndarray
    centre_x: np.ndarray
    centre_y: np.ndarray
    photo_aspect: np.ndarray
    photos: int
    origins: dict[str, int]

    @property
    def count(self) -> int:
        """Number of samples."""
        return len(self.angle_deg)

    @property
    def turned_share(self) -> float:
        """Share of crops with ``|angle| > TURNED_DEG``."""
        return float(np.mean(np.abs(self.angle_deg) > TURNED_DEG))

    @property
    def same_aspect_share(self) -> float:
        """Share of crops that keep the photo's own aspect ratio."""
        return float(
            np.mean(np.abs(self.aspect - self.photo_aspect) <= ASPECT_TOLERANCE * self.photo_aspect)
        )

    def aspect_shares(self) -> list[tuple[str, float]]:
        """Snapped aspect ratios (see :func:`snap_aspect`) with their shares, largest first."""
        counts = Counter(snap_aspect(a) for a in self.aspect)
        return [(name, n / self.count) for name, n in counts.most_common()]

    def quantiles(self) -> dict[str, dict[str, float]]:
        """Median, 25% and 75% quantiles of each measure."""
        out = {}
        for name in FIELDS:
            q25, q50, q75 = np.percentile(getattr(self, name), [25, 50, 75])
            out[name] = {"median": float(q50), "q25": float(q25), "q75": float(q75)}
        return out

    def to_dict(self) -> dict[str, Any]:
        """The summary as a JSON-ready dict."""
        return {
            "count": self.count,
            "photos": self.photos,
            "turned_share": self.turned_share,
            "turned_threshold_deg": TURNED_DEG,
            "same_aspect_share": self.same_aspect_share,
            "aspects": dict(self.aspect_shares()),
            "origins": self.origins,
            **self.quantiles(),
        }

    def format(self) -> str:
        """The text summary ``cropperhead stats`` prints."""
        origins = ", ".join(f"{k or 'unknown'} {v}" for k, v in self.origins.items())
        lines = [
            f"{self.count} crop(s) of {self.photos} photo(s) (origins: {origins})",
            "",
            f"{'':<14}{'median':>9}   IQR (25% .. 75%)",
        ]
        digits = {"angle_deg": 2, "aspect": 3, "scale": 3, "centre_x": 3, "centre_y": 3}
        for name, q in self.quantiles().items():
            d = digits[name]
            lines.append(
                f"{_LABELS[name]:<14}{q['median']:>9.{d}f}   {q['q25']:.{d}f} .. {q['q75']:.{d}f}"
            )
        shares = ", ".join(f"{name} {100 * share:.0f}%" for name, share in self.aspect_shares())
        lines += [
            "",
            f"turned (|angle| > {TURNED_DEG:g} deg): {100 * self.turned_share:.0f}%",
            f"keeps the photo's own aspect ratio: {100 * self.same_aspect_share:.0f}%",
            f"aspect ratios: {shares}",
        ]
        return "\n".join(lines)


def crop_stats(samples: Sequence[Sample | Mapping[str, Any]]) -> CropStats:
    """Measure the habit over manifest samples.

    Args:
        samples: :class:`~cropperhead.data.manifest.Sample` rows (``read_manifest``) or
            manifest.jsonl dicts (``source``, ``width``, ``height``, ``crop``, ``origin``).

    Returns:
        The measures.

    Raises:
        ValueError: no samples.
    """
    if not samples:
        raise ValueError("no samples to describe")
    rows = {k: [] for k in (*FIELDS, "photo_aspect")}
    origins: Counter[str] = Counter()
    sources = set()
    for s in samples:
        if isinstance(s, Mapping):
            crop = s["crop"] if isinstance(s["crop"], Crop) else Crop.from_dict(s["crop"])
            width, height = int(s["width"]), int(s["height"])
            source, origin = str(s["source"]), str(s.get("origin", ""))
        else:
            crop, width, height, source, origin = s.crop, s.width, s.height, s.source, s.origin
        out_w, out_h = crop_output_size_px(crop, width, height)
        rows["angle_deg"].append(crop.angle)
        rows["aspect"].append(out_w / out_h if out_h > 0 else math.nan)
        rows["scale"].append(out_w * out_h / (width * height))
        rows["centre_x"].append((crop.left + crop.right) / 2)
        rows["centre_y"].append((crop.top + crop.bottom) / 2)
        rows["photo_aspect"].append(width / height)
        origins[origin] += 1
        sources.add(source)
    arrays = {k: np.asarray(v, dtype=np.float64) for k, v in rows.items()}
    return CropStats(**arrays, photos=len(sources), origins=dict(origins.most_common()))


def is_stats_picture(path: Path) -> bool:
    """Whether ``path`` is a PNG :func:`plot_stats` drew (its Software tag)."""
    from PIL import Image

    with files.open_regular(path) as handle, Image.open(handle, formats=("PNG",)) as im:
        return im.info.get("Software") == SOFTWARE_TAG


def plot_stats(
    stats: CropStats, out_png: Path | str, title: str | None = None, overwrite: bool = False
) -> Path:
    """Draw angle, aspect and scale histograms and the centre scatter as one PNG.

    Args:
        stats: the measures.
        out_png: the PNG to write (its folder is created; replaced atomically).
        title: the figure title; default says how many crops.
        overwrite: replace an existing ``out_png`` that is not a picture of ours.

    Returns:
        ``out_png``.

    Raises:
        ReportError: ``out_png`` exists and is not a stats picture of ours.
    """
    from cropperhead.report.predictions import ReportError

    out_png = Path(out_png).expanduser()
    try:
        files.check_output_file(
            out_png,
            what="stats picture",
            is_ours=is_stats_picture,
            overwrite=overwrite,
            option="--overwrite",
        )
    except files.OutputRefusedError as exc:
        raise ReportError(str(exc)) from exc
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib import pyplot as plt

    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(2, 2, figsize=(11, 8.5), dpi=100)
    (ax_angle, ax_aspect), (ax_scale, ax_centre) = axes
    colour = "#3a7bd5"

    span = max(1.0, float(np.max(np.abs(stats.angle_deg))) * 1.05)
    ax_angle.hist(stats.angle_deg, bins=_bins(stats.angle_deg, -span, span), color=colour)
    ax_angle.axvline(0, color="k", lw=0.8)
    ax_angle.set(
        title=f"straighten angle: {100 * stats.turned_share:.0f}% turned "
        f"(|angle| > {TURNED_DEG:g} deg)",
        xlabel="angle (deg, positive turns the crop clockwise)",
        ylabel="crops",
    )

    aspect = stats.aspect[np.isfinite(stats.aspect)]
    lo, hi = (float(aspect.min()) * 0.95, float(aspect.max()) * 1.05) if len(aspect) else (0.5, 2)
    ax_aspect.hist(aspect, bins=_bins(aspect, lo, hi), color=colour)
    for long, short in COMMON_ASPECTS:
        for value in {long / short, short / long}:
            if lo <= value <= hi:
                ax_aspect.axvline(value, color="0.5", lw=0.7, ls=":")
                ax_aspect.text(
                    value,
                    1.0,
                    snap_aspect(value),
                    rotation=90,
                    va="top",
                    ha="right",
                    fontsize=8,
                    color="0.35",
                    transform=ax_aspect.get_xaxis_transform(),
                )
    ax_aspect.set(
        title=f"output aspect: {100 * stats.same_aspect_share:.0f}% keep the photo's own",
        xlabel="width / height of the cropped picture",
        ylabel="crops",
    )

    ax_scale.hist(stats.scale, bins=_bins(stats.scale, 0, 1), color=colour)
    ax_scale.set(
        title=f"crop scale: median {np.median(stats.scale):.2f} of the photo's area",
        xlabel="crop area / photo area",
        ylabel="crops",
        xlim=(0, 1.02),
    )

    if stats.count > 3000:
        ax_centre.hist2d(
            stats.centre_x, stats.centre_y, bins=40, range=[[0, 1], [0, 1]], cmap="Blues"
        )
    else:
        alpha = float(np.clip(30 / math.sqrt(stats.count), 0.15, 0.8))
        ax_centre.scatter(stats.centre_x, stats.centre_y, s=12, alpha=alpha, color=colour, lw=0)
    for third in (1 / 3, 2 / 3):
        ax_centre.axvline(third, color="0.4", lw=0.8, ls="--")
        ax_centre.axhline(third, color="0.4", lw=0.8, ls="--")
    ax_centre.plot([0.5], [0.5], marker="+", color="k", ms=10)
    ax_centre.set(
        title="crop centre (dashed: rule of thirds)",
        xlabel="x / photo width",
        ylabel="y / photo height (down)",
        xlim=(0, 1),
        ylim=(1, 0),
        aspect="equal",
    )
    fig.suptitle(title or f"The photographer's habit: {stats.count} crops of {stats.photos} photos")
    fig.tight_layout()
    with files.atomic_open(out_png, "wb") as handle:
        fig.savefig(handle, format="png", metadata={"Software": SOFTWARE_TAG})
    plt.close(fig)
    return out_png


def _bins(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Histogram edges over [lo, hi]: about sqrt(N), between 10 and 60 bins."""
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    n = int(np.clip(math.sqrt(max(len(values), 1)) * 1.5, 10, 60))
    return np.linspace(lo, hi, n + 1)


def dataset_stats(
    dataset: Path | str, out_png: Path | str | None = None, overwrite: bool = False
) -> CropStats:
    """Read a data set (``DATASET_DIR`` or its manifest.jsonl), measure, and draw.

    Args:
        dataset: the ``--out`` folder of ``cropperhead scan`` or its manifest.jsonl.
        out_png: where to draw the PNG; None draws nothing.
        overwrite: replace an existing ``out_png`` that is not a picture of ours.

    Returns:
        The measures.

    Raises:
        ReportError: a missing, empty or malformed manifest, or an ``out_png`` that is
            not ours.
    """
    from cropperhead.report.predictions import load_samples

    stats = crop_stats(load_samples(dataset))
    if out_png is not None:
        plot_stats(stats, out_png, overwrite=overwrite)
    return stats
