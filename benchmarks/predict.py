"""Throughput of the prediction path on 24-megapixel JPEGs, next to decoding alone and smartcrop.

    python benchmarks/predict.py [--files 16] [--repeat 3] [--batch-size N] [--workers N]
                                 [--image-size 224] [--device cpu] [--skip-onnx]
                                 [--skip-smartcrop]

Writes ``--files`` 6000 x 4000 JPEGs (a gradient with Gaussian noise, quality 90, as
benchmarks/decode.py makes them) into a temporary folder, builds a resnet18 crop model
with random weights (speed does not depend on the weights), saves it as a Lightning
checkpoint and exports it to ONNX. Then, in the same run and on the same files, each
``--repeat`` times in turn (in the listed order, then in reverse, alternately):

- ``load_photo``: the decode-and-resize step alone (:func:`cropperhead.scan.pipeline.
  load_photo` at the scan's 512 px, JPEG DCT scaling + Lanczos), one photo after the
  other in this process: the machine's rate for just reading the photos;
- ``load_photo + letterbox, N workers``: the same decode in the prediction DataLoader's
  worker processes, without a model: the best the predict path could do;
- ``predict (torch)`` / ``predict (onnx)``: :class:`cropperhead.predict.Predictor` end to
  end (workers decode and letterbox, the main process normalises and runs the model),
  with the mirror-agreement confidence and the mirror average (two forward passes; what
  ``predict.py`` does by default, ``mirror_average=true``) and with one forward pass
  (``confidence=false mirror_average=false``); and, with one pass, with the previous CPU
  settings (batches of 16, and all of torch's intra-op threads while the workers decode)
  for a same-run comparison (rows marked ``before``);
- ``smartcrop``: the ``smartcrop`` package (0.5) as its README uses it: ``Image.open``
  (full decode) and ``SmartCrop().crop(image, 100, 100)``, which first downscales the
  picture to about the crop size with Lanczos (``prescale=True``) and then scores
  candidate crops; and ``smartcrop on load_photo``: the same call on the picture
  ``load_photo`` decoded at 512 px (the cheap decode), so only its analysis differs.

Rates are photos per second (wall clock, worker start-up included for the DataLoader
rows); the table shows the median over the repeats and, in brackets, the range, and the
median CPU time per photo of this process and its (finished) worker processes together:
what a row costs when other work shares the cores.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import resource
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from cropperhead.predict.loaders import load_crop_model
from cropperhead.predict.predictor import Predictor, default_num_workers, on_gpu
from cropperhead.scan.photo import load_photo

# The decode benchmark's 24 MP test picture (this script's folder is on sys.path).
from decode import HEIGHT, WIDTH, synthetic_rgb  # noqa: E402  isort: skip

DECODE_SIZE = 512


def write_photos(folder: Path, n: int) -> list[Path]:
    """``n`` 24 MP JPEGs; every other one is a portrait (EXIF orientation 6)."""
    paths = []
    rgb = synthetic_rgb(0)
    for i in range(n):
        path = folder / f"photo_{i:03d}.jpg"
        image = Image.fromarray(np.roll(rgb, i * 137, axis=1))
        exif = Image.Exif()
        exif[0x0112] = 6 if i % 2 else 1
        image.save(path, quality=90, exif=exif)
        paths.append(path)
    return paths


def make_checkpoint(folder: Path, image_size: int) -> Path:
    """A resnet18 CropRegressor with random weights, saved as a Lightning checkpoint."""
    import pytorch_lightning as pl

    from cropperhead.model import CropRegressor

    torch.manual_seed(0)
    model = CropRegressor(backbone="resnet18", pretrained=False, image_size=image_size)
    with torch.no_grad():
        torch.nn.init.normal_(model.head.mlp[-1].weight, std=0.1)
    trainer = pl.Trainer(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.strategy.connect(model)
    path = folder / "random-resnet18.ckpt"
    trainer.save_checkpoint(path)
    return path


def cpu_seconds() -> float:
    """CPU time so far of this process and its finished children (the decoding workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def rate(run: Callable[[], int]) -> tuple[float, float]:
    """Photos per second and CPU ms per photo of one call (``run`` returns the photos done)."""
    start, cpu = time.perf_counter(), cpu_seconds()
    n = run()
    return n / (time.perf_counter() - start), (cpu_seconds() - cpu) / n * 1000


def decode_sequential(paths: list[Path]) -> int:
    for path in paths:
        load_photo(path, DECODE_SIZE)
    return len(paths)


def decode_workers(predictor: Predictor, paths: list[Path]) -> int:
    """The prediction DataLoader (decode + letterbox in its workers) without the network."""
    return sum("skip" not in item for item in predictor.loader(paths))


def predict(predictor: Predictor, paths: list[Path]) -> int:
    return sum(1 for _ in predictor.predict(paths))


def smartcrop_readme(paths: list[Path]) -> int:
    import smartcrop

    cropper = smartcrop.SmartCrop()
    for path in paths:
        with Image.open(path) as opened:
            image = opened.convert("RGB")
        cropper.crop(image, 100, 100)
    return len(paths)


def smartcrop_cheap_decode(paths: list[Path]) -> int:
    import smartcrop

    cropper = smartcrop.SmartCrop()
    for path in paths:
        cropper.crop(load_photo(path, DECODE_SIZE).image, 100, 100)
    return len(paths)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--batch-size", type=int, default=None, help="default: 16 on a GPU, 8 on the CPU"
    )
    parser.add_argument("--workers", type=int, default=None, help="default: one per core")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--smartcrop-files", type=int, default=6, help="photos per smartcrop row")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, auto")
    parser.add_argument("--skip-onnx", action="store_true")
    parser.add_argument("--skip-smartcrop", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    with tempfile.TemporaryDirectory(prefix="cropperhead-bench-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        paths = write_photos(folder, args.files)
        print(f"wrote {len(paths)} JPEGs of {WIDTH} x {HEIGHT} in {time.perf_counter() - t0:.0f} s")
        ckpt = make_checkpoint(folder, args.image_size)
        workers = args.workers if args.workers is not None else default_num_workers(len(paths))
        models = {"torch": load_crop_model(ckpt, device=args.device)}
        if not args.skip_onnx and importlib.util.find_spec("onnxscript") is None:
            print("onnxscript is not installed: no ONNX rows")
        elif not args.skip_onnx:
            from cropperhead.predict.export import export_model

            onnx_path = export_model(ckpt, "onnx", folder / "model.onnx").path
            onnx_model = load_crop_model(onnx_path, device=args.device)
            models[f"onnx, {onnx_model.providers[0]}"] = onnx_model
        rows: dict[str, Callable[[], int]] = {
            "load_photo (1 process)": lambda: decode_sequential(paths),
            f"load_photo + letterbox ({workers} workers)": lambda: decode_workers(
                Predictor(
                    models["torch"], args.batch_size, workers, False, decode_size=DECODE_SIZE
                ),
                paths,
            ),
        }
        for name, model in models.items():
            for confidence in (True, False):
                predictor = Predictor(
                    model,
                    batch_size=args.batch_size,
                    num_workers=workers,
                    confidence=confidence,
                    decode_size=DECODE_SIZE,
                    # One forward pass or two: the mirror average rides on the second.
                    mirror_average=confidence,
                )
                label = f"predict ({name}, {'with' if confidence else 'no'} confidence)"
                rows[label] = lambda p=predictor: predict(p, paths)
            if not on_gpu(model):
                # The previous CPU settings: batches of 16, all intra-op threads throughout.
                before = Predictor(
                    model,
                    batch_size=16,
                    num_workers=workers,
                    confidence=False,
                    decode_size=DECODE_SIZE,
                    threads=torch.get_num_threads(),
                    mirror_average=False,
                )
                label = f"predict ({name}, no confidence, batch 16, all threads: before)"
                rows[label] = lambda p=before: predict(p, paths)
        if not args.skip_smartcrop:
            few = paths[: args.smartcrop_files]
            rows["smartcrop (README: full decode + crop 100x100)"] = lambda: smartcrop_readme(few)
            rows["smartcrop on load_photo's 512 px picture"] = lambda: smartcrop_cheap_decode(few)

        predict(Predictor(models["torch"], num_workers=0), paths[:1])  # warm-up
        results: dict[str, list[float]] = {name: [] for name in rows}
        cpu_ms: dict[str, list[float]] = {name: [] for name in rows}
        names = list(rows)
        for repeat in range(args.repeat):
            # Alternate the order (forwards, then backwards) so no row always runs first.
            for name in names if repeat % 2 == 0 else names[::-1]:
                photos_per_s, ms = rate(rows[name])
                results[name].append(photos_per_s)
                cpu_ms[name].append(ms)

    base = statistics.median(results["load_photo (1 process)"])
    batch = Predictor(models["torch"], args.batch_size, 0).batch_size
    device = models["torch"].device
    gpu = f" ({torch.cuda.get_device_name()})" if device.startswith("cuda") else ""
    print()
    print(
        f"device {device}{gpu}; {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f} at the end; torch {torch.__version__} with "
        f"{torch.get_num_threads()} intra-op threads; {workers} decoding workers; batch "
        f"{batch}; image size {args.image_size}; {args.files} photos x {args.repeat} repeats"
    )
    print()
    print("| path | photos/s (median [min-max]) | vs load_photo | CPU ms/photo |")
    print("| --- | ---: | ---: | ---: |")
    for name, values in results.items():
        med = statistics.median(values)
        spread = f"{min(values):.2f}-{max(values):.2f}"
        ratio = med / base if base > 0 and not math.isnan(med) else float("nan")
        ms = statistics.median(cpu_ms[name])
        print(f"| {name} | {med:.2f} [{spread}] | {ratio:.2f}x | {ms:.0f} |")


if __name__ == "__main__":
    main()
