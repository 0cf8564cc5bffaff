"""Suggest crops: ``python predict.py ckpt_path=RUN/checkpoints/last.ckpt input=~/Pictures/new``.

Options: ``output=PRED.jsonl format=jsonl|csv write_xmp=true overwrite=false dry_run=false
aspect=auto|free|original|3:2|... device=auto batch_size=N report=false``; ``ckpt_path`` may
also be a ``cropperhead export`` ONNX or TorchScript file. The same as
``cropperhead predict ...``; see cropperhead/conf/predict.yaml.
"""

from cropperhead.commands import predict

if __name__ == "__main__":
    predict()
