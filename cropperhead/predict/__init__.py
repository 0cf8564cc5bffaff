"""Prediction: suggest crops for new photos, write them into XMP, export the model.

- :mod:`~cropperhead.predict.options`: ``predict.py``'s options (the schema Hydra
  composes conf/predict.yaml onto, and their strict checks).
- :mod:`~cropperhead.predict.photos`: find the photos ``input=`` names.
- :mod:`~cropperhead.predict.loaders`: load a checkpoint or an exported ONNX/TorchScript
  model (``load_crop_model``).
- :mod:`~cropperhead.predict.predictor`: batched, multi-process prediction over photo files
  (``Predictor``), with the training pipeline's decoding and letterboxing.
- :mod:`~cropperhead.predict.aspect`: Lightroom-style aspect locks.
- :mod:`~cropperhead.predict.records`: the predictions file's records (JSONL, CSV).
- :mod:`~cropperhead.predict.lightroom`: what the Lightroom plug-in needs from a record.
- :mod:`~cropperhead.predict.sidecars`: which sidecar(s) a crop goes to (``xmp_target``).
- :mod:`~cropperhead.predict.writeback`: write crops into XMP sidecars (stored frame, merged).
- :mod:`~cropperhead.predict.run`: ``python predict.py``'s body.
- :mod:`~cropperhead.predict.export`: export a checkpoint to ONNX / TorchScript;
  :mod:`~cropperhead.predict.export_cli`: its command line, ``cropperhead export``.
- :mod:`~cropperhead.predict.errors`: the user-facing errors.

Submodules are imported on use, so ``cropperhead --help`` stays fast.
"""
