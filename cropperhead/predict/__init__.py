"""Prediction: suggest crops for new photos, write them into XMP, export the model.

- :mod:`~cropperhead.predict.models`: load a checkpoint or an exported ONNX/TorchScript
  model (``load_crop_model``).
- :mod:`~cropperhead.predict.predictor`: batched, multi-process prediction over photo files
  (``Predictor``), with the training pipeline's decoding and letterboxing.
- :mod:`~cropperhead.predict.aspect`: Lightroom-style aspect locks.
- :mod:`~cropperhead.predict.writeback`: write crops into XMP sidecars (stored frame, merged).
- :mod:`~cropperhead.predict.export`: ``cropperhead export`` to ONNX / TorchScript.
- :mod:`~cropperhead.predict.run`: ``python predict.py``'s body.

Submodules are imported on use, so ``cropperhead --help`` stays fast.
"""
