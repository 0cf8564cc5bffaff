"""Suggest crops: ``python predict.py ckpt_path=RUN/checkpoints/last.ckpt input=~/Pictures/new``.

Options: ``output=PRED.jsonl format=jsonl|csv write_xmp=true overwrite=false dry_run=false
aspect=free|original|3:2|... device=auto batch_size=N report=false``; ``ckpt_path`` may
also be a ``cropperhead export`` ONNX or TorchScript file. See conf/predict.yaml.
"""

import hydra
from omegaconf import DictConfig

from cropperhead.predict.run import run_prediction


@hydra.main(version_base="1.3", config_path="conf", config_name="predict")
def main(cfg: DictConfig) -> None:
    """Predict, write the records (and XMP), print the summary."""
    run_prediction(cfg)


if __name__ == "__main__":
    main()
