"""Lightning's cost over a plain PyTorch loop, and the loader's rate, on this machine.

    python benchmarks/train_overhead.py [--photos 192] [--image-size 128] [--batch-size 16]
                                        [--model resnet18] [--warmup 3] [--steps 12]
                                        [--repeat 3] [--workers 1]

Writes a scanned-style training set (JPEGs, long side 256 px, and a manifest) into a
temporary folder, then measures, each in a fresh process (so that peak memory is its
own), alternating the modes ``--repeat`` times:

- ``loader``: CropDataModule's training loader alone (decode, augment, letterbox);
- ``plain``: a hand-written loop: the same loader, CropRegressor, CropLoss, the optimiser
  of ``configure_optimizers`` (constant learning rate), zero_grad/backward/step;
- ``lightning``: ``trainer.fit`` on the same DataModule and model, with what train.py
  adds to every step (CSV logger every 5 steps, progress bar, learning-rate monitor),
  validation off, in fp32 (``precision="32-true"``);
- ``lightning-bf16``: the same with ``precision="bf16-mixed"`` (autocast to bf16 on the
  CPU), what train.py's CPU trainers use where the CPU has AMX (cropperhead/config.py).

Images/s are timed from the start of step ``warmup`` to the start of step
``warmup + steps`` (each step's batch fetch included), the same window in both loops.
Peak memory is the process's maximum resident set size. Prints a markdown table; the
overhead is the median Lightning time over the median plain time, minus one.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

MODES = ("loader", "plain", "lightning", "lightning-bf16")


def make_dataset(root: Path, photos: int, long_side: int = 256, seed: int = 0) -> Path:
    """Scanned-style photos (gradient, noise, a bright square) with a crop on the square."""
    from cropperhead.geometry import Crop, crop_to_corners
    from cropperhead.scan.manifest import manifest_record

    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(photos):
        w, h = (long_side, long_side * 2 // 3) if i % 3 else (long_side * 2 // 3, long_side)
        ys, xs = np.mgrid[0:h, 0:w]
        img = np.stack([xs * 255 // w, ys * 255 // h, np.full_like(xs, 90)], -1).astype(np.uint8)
        img = np.clip(img + rng.normal(0, 10, img.shape), 0, 255).astype(np.uint8)
        cx, cy = rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h
        r = int(0.1 * min(w, h))
        img[int(cy) - r : int(cy) + r, int(cx) - r : int(cx) + r] = (250, 40, 40)
        half_w, half_h = 0.25, 0.25
        crop = Crop(
            max(cx / w - half_w, 0),
            max(cy / h - half_h, 0),
            min(cx / w + half_w, 1),
            min(cy / h + half_h, 1),
            0.0,
        )
        name = f"images/p{i:05d}.jpg"
        Image.fromarray(img).save(root / name, quality=92)
        corners = crop_to_corners(crop).tolist()
        source = f"/photos/p{i:05d}.jpg"
        lines.append(
            manifest_record(
                name, source, w * 16, h * 16, crop.to_dict(), corners, "xmp-sidecar", {}
            )
        )
    (root / "manifest.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return root


def _datamodule(args: argparse.Namespace):
    from cropperhead.data import CropDataModule

    dm = CropDataModule(
        root=args.root,
        image_size=args.image_size,
        batch_size=args.batch_size,
        num_workers=args.workers,
        pin_memory=False,
        persistent_workers=True,
        val_fraction=0.05,
        test_fraction=0.0,
        seed=0,
    )
    dm.setup("fit")
    return dm


def _model(args: argparse.Namespace):
    from cropperhead.model import CropRegressor

    return CropRegressor(
        backbone=args.model,
        pretrained=False,
        image_size=args.image_size,
        loss={"name": "giou"},
        scheduler={"name": "constant"},
    )


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_loader(args: argparse.Namespace) -> dict:
    loader = _datamodule(args).train_dataloader()
    marks = []
    step = 0
    while step <= args.warmup + args.steps:
        for _ in loader:
            marks.append(time.perf_counter())
            step += 1
            if step > args.warmup + args.steps:
                break
    return {"seconds": marks[args.warmup + args.steps] - marks[args.warmup]}


def run_plain(args: argparse.Namespace) -> dict:
    import torch

    dm, model = _datamodule(args), _model(args)
    model.train()
    optimizer = model.configure_optimizers()["optimizer"]
    marks = []
    step = 0
    while step <= args.warmup + args.steps:
        for batch in dm.train_dataloader():
            marks.append(time.perf_counter())
            step += 1
            if step > args.warmup + args.steps:
                break
            pred = model(batch["image"], batch["aspect"])
            loss = model.criterion(pred, batch["crop"], batch["aspect"])["loss"]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    del torch
    return {"seconds": marks[args.warmup + args.steps] - marks[args.warmup]}


def run_lightning(args: argparse.Namespace, workdir: Path, precision: str) -> dict:
    import pytorch_lightning as pl
    from pytorch_lightning.callbacks import LearningRateMonitor, TQDMProgressBar
    from pytorch_lightning.loggers import CSVLogger

    marks: list[float] = []

    class Marks(pl.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            marks.append(time.perf_counter())

    dm, model = _datamodule(args), _model(args)
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        precision=precision,
        max_steps=args.warmup + args.steps + 1,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        log_every_n_steps=5,
        logger=CSVLogger(workdir, name="csv", version=""),
        callbacks=[Marks(), TQDMProgressBar(refresh_rate=5), LearningRateMonitor("epoch")],
        enable_checkpointing=False,
        enable_model_summary=False,
        default_root_dir=workdir,
    )
    trainer.fit(model, datamodule=dm)
    return {"seconds": marks[args.warmup + args.steps] - marks[args.warmup]}


def _child(args: argparse.Namespace) -> None:
    import torch

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        if args.mode == "loader":
            result = run_loader(args)
        elif args.mode == "plain":
            result = run_plain(args)
        else:
            precision = "bf16-mixed" if args.mode == "lightning-bf16" else "32-true"
            result = run_lightning(args, Path(tmp), precision)
    result["images_per_s"] = args.steps * args.batch_size / result["seconds"]
    result["peak_rss_mib"] = _peak_rss_mib()
    print("RESULT " + json.dumps(result), flush=True)


def _measure(mode: str, args: argparse.Namespace, root: Path) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--root", str(root)]
    for key in ("image_size", "batch_size", "model", "warmup", "steps", "workers"):
        cmd += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(f"{mode} failed:\n{out.stderr[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=192)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--child", choices=MODES, dest="mode", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        _child(args)
        return
    needed = (args.warmup + args.steps + 1) * args.batch_size
    with tempfile.TemporaryDirectory() as tmp:
        root = make_dataset(Path(tmp) / "ds", max(args.photos, int(needed / 0.9) + 1))
        results: dict[str, list[dict]] = {m: [] for m in MODES}
        for _ in range(args.repeat):
            for mode in MODES:
                results[mode].append(_measure(mode, args, root))
    med = {m: statistics.median(r["images_per_s"] for r in results[m]) for m in MODES}
    print(
        f"\n{args.model}, {args.image_size} px, batch {args.batch_size}, "
        f"{args.workers} loader worker(s), {args.steps} timed steps after {args.warmup}, "
        f"median of {args.repeat} alternating runs\n"
    )
    print("| mode | images/s (median) | runs | peak RSS MiB |")
    print("| --- | ---: | --- | ---: |")
    for mode in MODES:
        runs = " / ".join(f"{r['images_per_s']:.1f}" for r in results[mode])
        peak = max(r["peak_rss_mib"] for r in results[mode])
        print(f"| {mode} | {med[mode]:.1f} | {runs} | {peak:.0f} |")
    overhead = med["plain"] / med["lightning"] - 1
    print(f"\nLightning overhead over the plain loop: {overhead * 100:+.1f}%")
    print(f"loader alone / training: {med['loader'] / med['plain']:.1f}x")
    print(f"bf16 autocast / fp32 (Lightning): {med['lightning-bf16'] / med['lightning']:.2f}x")


if __name__ == "__main__":
    main()
