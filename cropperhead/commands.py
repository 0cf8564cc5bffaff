"""The two Hydra commands, ``train`` and ``predict``, with their configs inside the package.

``python train.py ...`` in a checkout and ``cropperhead train ...`` anywhere after
``pip install`` both run :func:`train`; ``predict.py`` and ``cropperhead predict`` both run
:func:`predict`. The configs live in ``cropperhead/conf`` (package data): because these
functions are defined in a package module, Hydra finds them as ``pkg://cropperhead/conf``,
so an installed wheel needs no checkout. A user's own configs come in with Hydra's
``--config-dir DIR`` (``DIR/experiment/wedding.yaml`` is then ``experiment=wedding``).
Outputs go under the current folder's ``logs/`` (``paths.log_dir``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import hydra
from omegaconf import DictConfig

from cropperhead.predict.options import register_predict_schema

# conf/predict.yaml's defaults name the schema: it must be registered before Hydra composes.
register_predict_schema()


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def train(cfg: DictConfig) -> float | None:
    """Train and return the optimised metric (for sweepers)."""
    from cropperhead.training import run_training

    return run_training(cfg)


@hydra.main(version_base="1.3", config_path="conf", config_name="predict")
def predict(cfg: DictConfig) -> None:
    """Predict, write the records (and XMP), print the summary."""
    from cropperhead.predict.run import run_prediction

    run_prediction(cfg)


def run_hydra_command(command: str, argv: Sequence[str]) -> int:
    """``cropperhead train|predict ARGS``: run the Hydra command with ``ARGS`` as its argv.

    Hydra reads ``sys.argv`` itself (overrides, ``-m``, ``--help``, ``--config-dir``,
    ``--cfg job``), so the arguments are passed through unchanged.
    """
    mains = {"train": train, "predict": predict}
    if command not in mains:
        raise ValueError(f"not a Hydra command: {command!r} (have {sorted(mains)})")
    main = mains[command]
    saved = sys.argv
    sys.argv = [f"cropperhead {command}", *argv]
    try:
        main()
    finally:
        sys.argv = saved
    return 0
