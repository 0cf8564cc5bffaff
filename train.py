"""Learn a photographer's crops: ``python train.py model=resnet34 loss=giou``.

With no arguments it trains on the built-in demo library on the CPU. See conf/train.yaml
for every option and README.md for recipes.
"""

import hydra
from omegaconf import DictConfig

from cropperhead.training import run_training


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Train and return the optimised metric (for sweepers)."""
    return run_training(cfg)


if __name__ == "__main__":
    main()
