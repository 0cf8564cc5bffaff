"""The two baselines a suggestion has to beat, and the samples they are scored on.

- the full frame: no crop at all (``Crop.full_frame()``);
- "my usual crop": the median of each crop coordinate over a set of samples
  (:func:`median_crop`, the same median as :func:`cropperhead.data.manifest.usual_crop`
  and training's baseline), over the evaluated manifest, its training split, or the
  training split of the library a model was trained on (:func:`training_usual_crop`:
  the evaluated photos' own median would know their crops).

:class:`Target` is one manifest sample as evaluation needs it (:func:`target_from_row`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cropperhead.data.manifest import Sample, usual_crop
from cropperhead.geometry import Crop

#: The split of ``data=library`` (cropperhead/conf/data/library.yaml), the one a
#: training run on your own photos makes: 15% validation, no test split (those photos
#: train). evaluate's defaults; tests/test_configs.py keeps the two in step.
LIBRARY_VAL_FRACTION = 0.15
LIBRARY_TEST_FRACTION = 0.0


@dataclass(frozen=True)
class Target:
    """One manifest sample as evaluation needs it.

    Attributes:
        source: the original photo.
        width: display width W' of the original.
        height: display height H' of the original.
        crop: the photographer's display-frame crop.
    """

    source: str
    width: int
    height: int
    crop: Crop


def target_from_row(row: Sample | Mapping[str, Any]) -> Target:
    """A :class:`Target` from a :class:`~cropperhead.data.manifest.Sample` or a manifest dict.

    Raises:
        ValueError: a dict without ``source``, ``width``, ``height`` or ``crop``, or
            with no size.
    """
    if not isinstance(row, Mapping):
        return Target(str(row.source), int(row.width), int(row.height), row.crop)
    try:
        crop = row["crop"]
        target = Target(
            source=str(row["source"]),
            width=int(row["width"]),
            height=int(row["height"]),
            crop=crop if isinstance(crop, Crop) else Crop.from_dict(crop),
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"malformed manifest row ({exc!r}): {row!r}") from exc
    if target.width <= 0 or target.height <= 0:
        raise ValueError(f"manifest row has no size: {row!r}")
    return target


def median_crop(targets: Sequence[Target]) -> Crop:
    """The "my usual crop" baseline: the median of each coordinate (full frame if none)."""
    return Crop(*usual_crop(targets))  # usual_crop only reads ``.crop``


def training_usual_crop(
    samples: Sequence[Sample],
    seed: int = 42,
    val_fraction: float = LIBRARY_VAL_FRACTION,
    test_fraction: float = LIBRARY_TEST_FRACTION,
) -> tuple[Crop, int]:
    """The usual crop of a training library: the median over its training split.

    This is the baseline a model trained on that library has to beat on other photos,
    split as a training run with ``seed`` splits it
    (:func:`cropperhead.data.datamodule.split_samples`).

    Args:
        samples: every sample of the training library's data set.
        seed: the training run's ``seed``.
        val_fraction: the training run's ``data.val_fraction``.
        test_fraction: the training run's ``data.test_fraction``.

    Returns:
        ``(median crop, number of training samples)``.

    Raises:
        ValueError: bad fractions, or a data set whose training split is empty.
    """
    from cropperhead.data.datamodule import split_samples  # brings in torch and Lightning

    train = split_samples(list(samples), seed, val_fraction, test_fraction)["train"]
    if not train:
        raise ValueError(
            f"no training samples to take the usual crop from ({len(samples)} sample(s), "
            f"split seed {seed})"
        )
    return median_crop([target_from_row(s) for s in train]), len(train)
