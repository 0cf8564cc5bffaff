"""Training images/s on a GPU: the model alone against the whole pipeline, in one run.

    python benchmarks/gpu.py [--out DIR] [--budget-s 330] [--models resnet18,resnet34,resnet50]
                             [--sizes 224,384] [--photos 2048] [--copies 8] [--dry-run]
    python benchmarks/gpu.py --make-dataset DIR [--photos 64] [--copies 1]

Measures, in priority order until ``--budget-s`` is spent (what is left is marked skipped):

- model only: CropRegressor forward + CropLoss + backward + AdamW step on synthetic
  tensors already on the GPU, channels-last, bf16 autocast or fp32; batch 256 at 224 px
  and 128 at 384 px (halved until it fits); images/s and peak GPU memory;
- whole pipeline: ``train(cfg)`` composed exactly as ``python train.py trainer=gpu
  data=library ...`` on a generated scanned-style library (``--photos`` JPEGs with a
  long side of 512 px, each listed ``--copies`` times), through the uint8 cache
  (``data.cache=true``, the trainer=gpu default) and through the Pillow path
  (``data.cache=false``: decode, albumentations, letterbox in the loader workers).

Pipeline images/s are timed between the starts of training steps ``--warmup`` and
``--warmup + --steps`` (batch fetch, transfer, augmentations, step, Lightning's logging
and progress bar all included). Prints markdown tables and writes ``gpu_benchmark.md``
and ``gpu_benchmark.json`` into ``--out``. ``--dry-run`` runs every stage on the CPU with
toy sizes, to check the plumbing without a GPU.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import tempfile
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


# -- data ------------------------------------------------------------------------------


def _write_photo(args: tuple[Path, int, int]) -> dict:
    from cropperhead.geometry import Crop

    root, index, long_side = args
    rng = np.random.default_rng(index)
    short = long_side * 2 // 3
    w, h = (long_side, short) if index % 4 else (short, long_side)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    tilt = rng.uniform(-0.2, 0.2)
    horizon = (ys - h * rng.uniform(0.35, 0.65) - tilt * (xs - w / 2)) > 0
    img = np.empty((h, w, 3), np.float32)
    img[..., 0] = np.where(horizon, 70, 120 + 60 * xs / w)
    img[..., 1] = np.where(horizon, 110, 160)
    img[..., 2] = np.where(horizon, 60, 220 - 40 * ys / h)
    img += rng.normal(0, 8, (h, w, 1))
    cx, cy = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7)
    r = int(0.08 * min(w, h))
    img[int(cy * h) - r : int(cy * h) + r, int(cx * w) - r : int(cx * w) + r] = (240, 60, 40)
    name = f"images/p{index:05d}.jpg"
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(root / name, quality=90)
    half = rng.uniform(0.2, 0.3)
    crop = Crop(max(cx - half, 0), max(cy - half, 0), min(cx + half, 1), min(cy + half, 1), 0.0)
    return {"image": name, "width": w * 12, "height": h * 12, "crop": crop.to_dict()}


def make_library(root: Path, photos: int, copies: int = 1, long_side: int = 512) -> Path:
    """A scanned-style training set: ``photos`` JPEGs, each listed ``copies`` times."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    jobs = [(root, i, long_side) for i in range(photos)]
    with ProcessPoolExecutor(max_workers=min(os.cpu_count() or 1, 16)) as pool:
        rows = list(pool.map(_write_photo, jobs, chunksize=16))
    lines = []
    for copy in range(copies):
        for i, row in enumerate(rows):
            lines.append({**row, "source": f"/photos/p{i:05d}_{copy}.jpg", "origin": "xmp-sidecar"})
    (root / "manifest.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return root


# -- model only ------------------------------------------------------------------------


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def model_only(
    backbone: str,
    size: int,
    batch: int,
    precision: str,
    warmup: int,
    steps: int,
    device: torch.device,
) -> dict:
    """Training steps on synthetic tensors: the rate the pipeline should approach."""
    from cropperhead.model import CropRegressor

    model = CropRegressor(
        backbone=backbone, pretrained=False, image_size=size, scheduler={"name": "constant"}
    ).to(device)
    model.train()
    optimizer = model.configure_optimizers()["optimizer"]
    images = torch.randn(batch, 3, size, size, device=device)
    images = images.contiguous(memory_format=torch.channels_last)
    crops = torch.tensor([0.1, 0.12, 0.9, 0.88, 0.0], device=device).repeat(batch, 1)
    crops[:, 4] = torch.linspace(-5, 5, batch, device=device)
    aspect = torch.full((batch,), 1.5, device=device)
    bf16 = precision == "bf16"
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    for step in range(warmup + steps):
        if step == warmup:
            _sync(device)
            t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            pred = model(images, aspect)
            loss = model.criterion(pred, crops, aspect)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    _sync(device)
    seconds = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    return {"images_per_s": steps * batch / seconds, "peak_gib": peak, "batch": batch}


# -- whole pipeline --------------------------------------------------------------------


class Throughput(pl.Callback):
    """Wall time between the starts of training steps ``warmup`` and ``warmup + steps``.

    Args:
        warmup: untimed steps (workers starting, cuDNN autotuning).
        steps: timed steps.
    """

    def __init__(self, warmup: int = 10, steps: int = 50) -> None:
        self.warmup, self.steps = warmup, steps
        self.count = 0
        self.t0: float | None = None
        self.t1: float | None = None
        self.batch: int | None = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self.count in (self.warmup, self.warmup + self.steps):
            _sync(pl_module.device)
            now = time.perf_counter()
            if self.count == self.warmup:
                self.t0, self.batch = now, len(batch["image"])
            else:
                self.t1 = now
        self.count += 1

    def images_per_s(self) -> float | None:
        """Timed images per second (None if the run stopped early)."""
        if self.t0 is None or self.t1 is None or not self.batch:
            return None
        return self.steps * self.batch / (self.t1 - self.t0)


def pipeline(
    root: Path,
    workdir: Path,
    backbone: str,
    size: int,
    batch: int,
    cache: bool,
    warmup: int,
    steps: int,
    dry_run: bool,
    compile_model: bool = False,
) -> dict:
    """``train(cfg)`` as ``python train.py trainer=gpu`` builds it; returns images/s."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    import cropperhead.config  # noqa: F401
    from cropperhead.training import train

    overrides = [
        "trainer=gpu",
        f"model={backbone}",
        "data=library",
        f"data.root={root}",
        f"data.image_size={size}",
        f"data.batch_size={batch}",
        f"data.cache={str(cache).lower()}",
        "data.val_fraction=0.02",
        "data.test_fraction=0.02",
        "model.pretrained=false",
        f"model.compile={str(compile_model).lower()}",
        "test=false",
        "trainer.max_epochs=1",
        f"+trainer.max_steps={warmup + steps + 1}",
        "+trainer.num_sanity_val_steps=0",
        "+trainer.limit_val_batches=2",
        # Stopped by max_steps before any validation: nothing to stop early on.
        "callbacks.early_stopping=null",
        "+callbacks.throughput._target_=__main__.Throughput",
        f"+callbacks.throughput.warmup={warmup}",
        f"+callbacks.throughput.steps={steps}",
    ]
    if dry_run:
        overrides += ["trainer.accelerator=cpu", "trainer.precision=32-true", "data.num_workers=1"]
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "cropperhead" / "conf")):
        cfg = compose(config_name="train", return_hydra_config=True, overrides=overrides)
    with open_dict(cfg):
        cfg.paths.output_dir = str(workdir)
    HydraConfig().set_config(cfg)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    _, objects = train(cfg)
    meter = next(c for c in objects["callbacks"] if isinstance(c, Throughput))
    rate = meter.images_per_s()
    peak = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None
    workers = objects["datamodule"].num_workers
    del objects, meter
    gc.collect()  # ends this run's persistent loader workers before the next run
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    GlobalHydra.instance().clear()
    return {"images_per_s": rate, "peak_gib": peak, "workers": workers}


# -- driver ----------------------------------------------------------------------------


def _environment() -> dict:
    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lightning": pl.__version__,
        "cpus": os.cpu_count(),
    }
    if torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name()
        env["cuda"] = torch.version.cuda
        env["capability"] = ".".join(map(str, torch.cuda.get_device_capability()))
    return env


def _fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _markdown(env: dict, model_rows: list[dict], pipe_rows: list[dict], notes: list[str]) -> str:
    lines = [
        "Environment: " + ", ".join(f"{k} {v}" for k, v in env.items()),
        "",
        "Model only (synthetic tensors on the GPU, channels-last):",
        "",
        "| model | px | precision | batch | images/s | peak GiB |",
        "| --- | ---: | --- | ---: | ---: | ---: |",
    ]
    for r in model_rows:
        lines.append(
            f"| {r['model']} | {r['size']} | {r['precision']} | {r.get('batch', '-')} | "
            f"{_fmt(r.get('images_per_s'))} | {_fmt(r.get('peak_gib'), 1)} |"
            + (f" {r['status']}" if r.get("status") else "")
        )
    lines += [
        "",
        "Whole pipeline (`train(cfg)` as `python train.py trainer=gpu`, bf16):",
        "",
        "| model | px | path | batch | loader workers | images/s | of model only | peak GiB |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in pipe_rows:
        ref = r.get("model_only")
        share = f"{100 * r['images_per_s'] / ref:.0f}%" if ref and r.get("images_per_s") else "-"
        lines.append(
            f"| {r['model']} | {r['size']} | {r['path']} | {r.get('batch', '-')} | "
            f"{r.get('workers', '-')} | {_fmt(r.get('images_per_s'))} | {share} | "
            f"{_fmt(r.get('peak_gib'), 1)} |" + (f" {r['status']}" if r.get("status") else "")
        )
    if notes:
        lines += ["", *notes]
    return "\n".join(lines) + "\n"


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("."))
    parser.add_argument("--budget-s", type=float, default=330.0)
    parser.add_argument("--models", default="resnet18,resnet34,resnet50")
    parser.add_argument("--sizes", default="224,384")
    parser.add_argument("--photos", type=int, default=2048)
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--no-compile", action="store_true", help="skip the compile=true run")
    parser.add_argument(
        "--dry-run", action="store_true", help="toy sizes on the CPU (no compile run)"
    )
    parser.add_argument("--make-dataset", type=Path, help="only write a library there")
    return parser.parse_args()


@dataclass
class Plan:
    """What to measure: the device, models, sizes, batch per size and precisions."""

    device: torch.device
    models: list[str]
    sizes: list[int]
    batches: dict[int, int]
    precisions: list[str]


def _plan(args: argparse.Namespace) -> Plan | None:
    """The plan for ``args`` (toy sizes for ``--dry-run``); None without a CUDA GPU."""
    models = args.models.split(",")
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.dry_run:
        args.photos, args.copies, args.warmup, args.steps = 24, 2, 1, 2
        return Plan(torch.device("cpu"), models[:1], [64], {64: 8}, ["fp32"])
    if not torch.cuda.is_available():
        print("error: no CUDA GPU (use --dry-run to check the plumbing on the CPU)")
        return None
    torch.backends.cudnn.benchmark = True
    torch.set_float32_matmul_precision("high")
    batches = {s: (256 if s <= 256 else 128) for s in sizes}
    return Plan(torch.device("cuda"), models, sizes, batches, ["bf16", "fp32"])


class Benchmark:
    """One benchmark session: its time budget, the runs, and the results saved after each.

    Args:
        args: the command line.
        plan: what to measure.
        start: ``time.monotonic()`` when the session began (the budget counts from it).
    """

    def __init__(self, args: argparse.Namespace, plan: Plan, start: float) -> None:
        self.args, self.plan, self.start = args, plan, start
        self.env = _environment()
        print("environment:", json.dumps(self.env), flush=True)
        self.model_rows: list[dict] = []
        self.pipe_rows: list[dict] = []
        self.notes: list[str] = []
        self.model_rate: dict[tuple[str, int, str], float] = {}
        self.caches: dict[int, float] = {}
        self.tmp = Path(tempfile.mkdtemp(prefix="cropperhead-gpu-bench-"))
        self.library = self.tmp / "library"

    def left(self) -> float:
        """Seconds left of ``--budget-s``."""
        return self.args.budget_s - (time.monotonic() - self.start)

    def save(self) -> None:
        """Write gpu_benchmark.md and gpu_benchmark.json with the results so far."""
        out = self.args.out
        (out / "gpu_benchmark.md").write_text(self.markdown())
        payload = {
            "environment": self.env,
            "model_only": self.model_rows,
            "pipeline": self.pipe_rows,
        }
        (out / "gpu_benchmark.json").write_text(json.dumps(payload, indent=1) + "\n")

    def markdown(self) -> str:
        """The results as markdown tables."""
        return _markdown(self.env, self.model_rows, self.pipe_rows, self.notes)

    def note(self, text: str) -> None:
        """Add a line under the tables, and print it."""
        self.notes.append(text)
        print(text, flush=True)

    def write_library(self) -> None:
        """Generate the training library the pipeline runs read."""
        args = self.args
        t = time.monotonic()
        make_library(self.library, args.photos, args.copies)
        self.note(
            f"Library: {args.photos} generated photos (512 px long side, JPEG q90) x "
            f"{args.copies} manifest rows each, written in {time.monotonic() - t:.1f} s."
        )

    def run_model_only(self, model: str, size: int, precision: str) -> None:
        """One model-only row; the batch is halved until it fits in GPU memory."""
        row = {"model": model, "size": size, "precision": precision}
        self.model_rows.append(row)
        if self.left() < 15:
            row["status"] = "skipped (time budget)"
            return
        device = self.plan.device
        steps = 20 if not self.args.dry_run else 2
        batch = self.plan.batches[size]
        while batch >= 8:
            try:
                row.update(model_only(model, size, batch, precision, 5, steps, device))
                self.model_rate[(model, size, precision)] = row["images_per_s"]
                break
            except torch.OutOfMemoryError:
                batch //= 2
                torch.cuda.empty_cache()
            except Exception as exc:  # noqa: BLE001 - report and go on
                row["status"] = f"failed: {type(exc).__name__}: {exc}"
                traceback.print_exc()
                break
            finally:
                if device.type == "cuda":
                    torch.cuda.empty_cache()
        print("model only:", json.dumps(row), flush=True)
        self.save()

    def ensure_cache(self, size: int) -> None:
        """Build the uint8 cache at ``size`` once, noting how long it took."""
        if size in self.caches:
            return
        from cropperhead.data.cache import build_cache

        t = time.monotonic()
        workers = min(os.cpu_count() or 1, 16)
        cache = build_cache(self.library, size, workers=workers, progress=False)
        seconds = self.caches[size] = time.monotonic() - t
        gib = cache.images.nbytes / 2**30
        self.note(
            f"Cache {size} px: {len(cache)} rows, {gib:.2f} GiB, built in {seconds:.1f} s "
            f"({len(cache) / seconds:,.0f} images/s)."
        )

    def run_pipeline(self, model: str, size: int, cache: bool, compile_model: bool = False) -> None:
        """One whole-pipeline row (skipped when the budget cannot hold it)."""
        args, batch = self.args, self.plan.batches[size]
        path = ("cache" if cache else "Pillow") + (" + compile" if compile_model else "")
        row = {"model": model, "size": size, "path": path, "batch": batch}
        row["model_only"] = self.model_rate.get((model, size, self.plan.precisions[0]))
        self.pipe_rows.append(row)
        need = 150 if compile_model else 45
        if self.left() < need:
            row["status"] = "skipped (time budget)"
            self.save()
            return
        try:
            if cache:
                self.ensure_cache(size)
            work = self.tmp / f"run-{model}-{size}-{path.replace(' + ', '-')}"
            row.update(
                pipeline(
                    self.library,
                    work,
                    model,
                    size,
                    batch,
                    cache,
                    args.warmup,
                    args.steps,
                    args.dry_run,
                    compile_model,
                )
            )
        except Exception as exc:  # noqa: BLE001 - report and go on
            row["status"] = f"failed: {type(exc).__name__}: {exc}"
            traceback.print_exc()
        print("pipeline:", json.dumps(row), flush=True)
        self.save()

    def run_all(self) -> None:
        """Every run in priority order: the goal first (resnet34, first size), then breadth."""
        models, sizes, precisions = self.plan.models, self.plan.sizes, self.plan.precisions
        first = precisions[0]
        main_model = "resnet34" if "resnet34" in models else models[0]
        self.run_model_only(main_model, sizes[0], first)
        self.run_pipeline(main_model, sizes[0], cache=True)
        self.run_pipeline(main_model, sizes[0], cache=False)
        for model in models:
            if model != main_model:
                self.run_model_only(model, sizes[0], first)
                self.run_pipeline(model, sizes[0], cache=True)
        for precision in precisions[1:]:
            for model in models:
                self.run_model_only(model, sizes[0], precision)
        for size in sizes[1:]:
            for precision in precisions:
                for model in models:
                    self.run_model_only(model, size, precision)
            self.run_pipeline(main_model, size, cache=True)
            self.run_pipeline(main_model, size, cache=False)
        if not self.args.no_compile and not self.args.dry_run:
            self.run_pipeline(main_model, sizes[0], cache=True, compile_model=True)

    def finish(self) -> int:
        """Save and print the tables; the exit status (1 when a run failed)."""
        self.notes.append(f"Total benchmark time {time.monotonic() - self.start:.0f} s.")
        self.save()
        print()
        print(self.markdown())
        rows = self.model_rows + self.pipe_rows
        failed = [r for r in rows if str(r.get("status", "")).startswith("failed")]
        return 1 if failed else 0


def main() -> int:
    args = _parse_args()
    if args.make_dataset:
        make_library(args.make_dataset, args.photos, args.copies)
        print(f"wrote {args.photos} photos x {args.copies} to {args.make_dataset}")
        return 0
    start = time.monotonic()
    plan = _plan(args)
    if plan is None:
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    bench = Benchmark(args, plan, start)
    bench.write_library()
    bench.run_all()
    return bench.finish()


if __name__ == "__main__":
    sys.exit(main())
