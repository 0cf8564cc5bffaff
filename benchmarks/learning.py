"""Learning benchmark: does the model learn several photographers' habits?

    python benchmarks/learning.py run --out DIR [--styles all|thirds,tight,...] [--seeds 1,2,3]
                                      [--photos 340] [--test-photos 90] [--data-seed 0]
                                      [--train-args "trainer.max_epochs=40 model=resnet34"]
                                      [--predict-args "confidence=true"] [--tag NAME]
                                      [--workers 2] [--force] [--repredict] [--quick]
                                      [--keep-checkpoints last|all|none]
    python benchmarks/learning.py report --out DIR [--tag NAME] [--markdown] [--json]
    python benchmarks/learning.py generate --out DIR [--styles ...] [--photos ...]

For each style of benchmarks/learning_styles.py (each a photographer with another habit)
it generates a training library and a held-out test library (another stream of scenes),
in the formats the scan reads, and runs the real commands on them, as a user would:

    cropperhead scan LIB --out DS --include-uncropped          (and TEST_LIB -> TEST_DS)
    python train.py data=library data.root=DS seed=S paths.output_dir=RUN logger=csv
                    hydra.run.dir=RUN [--train-args]
    python predict.py ckpt_path=RUN/checkpoints/last.ckpt input=TEST_LIB
                      output=RUN/test_predictions.jsonl progress=false
                      hydra.run.dir=RUN/predict [--predict-args]
    cropperhead evaluate --manifest TEST_DS/manifest.jsonl --predictions ... --json
                         --usual-crop-from DS --split-seed S

The usual-crop baseline is the median over DS's training split (what the model was
trained on), never the test library's own median. Libraries depend only on the style,
the counts and ``--data-seed``, never on the training seed, and are cached under
``DIR/libraries/<style>-p<photos>-t<test>-d<seed>/`` (``library.json`` marks a complete
one, with the generator version). Each (style, seed) writes
``DIR/<style>/[<tag>/]seed_<S>/result.json`` (evaluate's JSON, wall and CPU seconds of
each step, the commands) and is skipped when that exists, unless ``--force``: a full
run (5 styles x 3 seeds) takes hours and can be resumed. ``--repredict`` runs only
predict and evaluate again on each result's kept ``last.ckpt`` (with this code and
``--predict-args``), for changes that touch prediction alone.

``report`` prints, per style, the model, the usual crop and no crop: IoU, BDE, angle MAE,
aspect accuracy, crop/leave accuracy and the confidence's rank correlation with IoU,
each as mean and spread (max - min) over seeds, the training CPU minutes, and the goal
check: model IoU >= usual crop IoU + 0.15, angle MAE <= 0.5 deg, seed spread of the IoU
<= 0.03 (means over seeds; the spread needs two seeds or more).

``--quick``: 24 training and 12 test photos per style, seed 1, one epoch at 64 px with
random initialisation (results under the tag ``quick``): the plumbing, not a result.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import platform
import re
import resource
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
#: Bump when result.json changes shape.
RESULT_VERSION = 1
DEFAULT_SEEDS = (1, 2, 3)
DEFAULT_PHOTOS, DEFAULT_TEST_PHOTOS = 340, 90
DEFAULT_PREDICT_ARGS = "confidence=true"
QUICK = {
    "photos": 24,
    "test_photos": 12,
    "seeds": (1,),
    "train_args": "trainer.max_epochs=1 data.image_size=64 data.batch_size=8 "
    "model.pretrained=false",
    "tag": "quick",
}
#: Goals per style (see the module docstring).
IOU_MARGIN = 0.15
ANGLE_MAE_MAX_DEG = 0.5
IOU_SPREAD_MAX = 0.03
ROWS = (("model", "model"), ("usual crop", "usual_crop"), ("no crop", "full_frame"))
RESULT_NAME = "result.json"
_TAG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def load_styles() -> ModuleType:
    """benchmarks/learning_styles.py as a module (the benchmarks are scripts, not a package).

    Registered in ``sys.modules`` so that forked generator workers find its functions.
    """
    name = "learning_styles"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    if spec is None or spec.loader is None:
        raise ImportError("cannot load benchmarks/learning_styles.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class BenchmarkError(RuntimeError):
    """A step failed; the message says which and where its log is."""


def say(message: str) -> None:
    """One progress line on stdout, flushed (the benchmark runs for hours)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --------------------------------------------------------------------------- commands


def cropperhead_command() -> list[str]:
    """``cropperhead`` as installed beside this Python, else on PATH, else ``-m``."""
    beside = Path(sys.executable).with_name("cropperhead")
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("cropperhead")
    return [found] if found else [sys.executable, "-m", "cropperhead.cli"]


def hydra_value(path: Path) -> str:
    """A path as a Hydra override value, quoted when Hydra's grammar needs it.

    Raises:
        ValueError: the path holds a quote (Hydra's escaping of those is not worth it).
    """
    text = str(path)
    if "'" in text or '"' in text:
        raise ValueError(f"paths with quotes are not supported: {text!r}")
    return text if re.fullmatch(r"[\w/.+~-]+", text) else f"'{text}'"


@dataclass
class Step:
    """One command run: what, how long, what it printed."""

    name: str
    argv: list[str]
    wall_s: float = 0.0
    cpu_s: float = 0.0
    returncode: int = 0
    log: str = ""
    stdout: str = field(default="", repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": shlex.join(self.argv),
            "wall_s": round(self.wall_s, 3),
            "cpu_s": round(self.cpu_s, 3),
            "returncode": self.returncode,
            "log": self.log,
        }


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_step(name: str, argv: list[str], log: Path, capture: bool = False) -> Step:
    """Run one command from the repository root, its output into ``log``.

    The CPU time is that of the finished children (``RUSAGE_CHILDREN``), so it includes
    the data loader workers the command itself waited for.

    Raises:
        BenchmarkError: the command exited non-zero (with the end of its log).
    """
    step = Step(name, argv, log=str(log))
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "WANDB_MODE": "offline"}
    cpu0, t0 = _children_cpu_s(), time.perf_counter()
    with log.open("w") as fh:
        fh.write(f"$ {shlex.join(argv)}\n")
        fh.flush()
        done = subprocess.run(
            argv,
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE if capture else fh,
            stderr=fh,
            text=True,
            check=False,
        )
    step.wall_s, step.cpu_s = time.perf_counter() - t0, _children_cpu_s() - cpu0
    step.returncode, step.stdout = done.returncode, done.stdout or ""
    if done.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-8:]
        raise BenchmarkError(
            f"{name} failed (exit {done.returncode}); log {log}:\n  " + "\n  ".join(tail)
        )
    return step


# --------------------------------------------------------------------------- libraries


@dataclass(frozen=True)
class Library:
    """A style's cached libraries and their scanned data sets."""

    root: Path
    style: str

    @property
    def train(self) -> Path:
        return self.root / "train"

    @property
    def test(self) -> Path:
        return self.root / "test"

    @property
    def train_ds(self) -> Path:
        return self.root / "train_ds"

    @property
    def test_ds(self) -> Path:
        return self.root / "test_ds"


def library_dir(out: Path, style: str, photos: int, test_photos: int, data_seed: int) -> Path:
    """Where a style's libraries of these counts and data seed are cached."""
    return out / "libraries" / f"{style}-p{photos}-t{test_photos}-d{data_seed}"


def ensure_library(
    out: Path, style: str, photos: int, test_photos: int, data_seed: int, workers: int
) -> Library:
    """Generate and scan a style's libraries unless a complete, current copy exists.

    The photos' absolute paths end up in the manifests, so the libraries are built in
    place; ``library.json`` is written last, and a folder without it (an interrupted
    build) is removed and built again.

    Raises:
        BenchmarkError: a scan failed or read back labels other than the generator's.
    """
    styles = load_styles()
    root = library_dir(out, style, photos, test_photos, data_seed).resolve()
    lib = Library(root, style)
    marker = root / "library.json"
    wanted = {
        "generator_version": styles.GENERATOR_VERSION,
        "style": style,
        "photos": photos,
        "test_photos": test_photos,
        "data_seed": data_seed,
    }
    if marker.is_file():
        try:
            found = json.loads(marker.read_text())
        except ValueError:
            found = {}
        if all(found.get(k) == v for k, v in wanted.items()):
            return lib
        say(f"{style}: cached libraries are out of date ({marker}); rebuilding")
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    info: dict[str, Any] = dict(wanted)
    for part, folder, ds, n in (
        ("train", lib.train, lib.train_ds, photos),
        ("test", lib.test, lib.test_ds, test_photos),
    ):
        t0 = time.perf_counter()
        records = list(
            _progress(
                styles.generate_library(folder, style, n, data_seed, part, workers),
                total=n,
                desc=f"{style} {part}",
            )
        )
        gen_s = time.perf_counter() - t0
        styles.write_truth(root / f"truth_{part}.jsonl", records)
        argv = [*cropperhead_command(), "scan", str(folder), "--out", str(ds)]
        step = run_step(
            f"scan {style} {part}", [*argv, "--include-uncropped"], root / f"scan_{part}.log"
        )
        check_scan(ds, records, folder)
        left = sum(r["uncropped"] for r in records)
        say(
            f"{style} {part}: {n} photos ({left} left uncropped) generated in {gen_s:.1f} s, "
            f"scanned in {step.wall_s:.1f} s"
        )
        info[part] = {
            "generate_s": round(gen_s, 2),
            "scan": step.to_dict(),
            "uncropped": left,
        }
    marker.write_text(json.dumps(info, indent=2) + "\n")
    return lib


def _progress(items: Any, total: int, desc: str) -> Any:
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is a dependency; keep going without a bar all the same
        return items
    return tqdm(items, total=total, desc=desc, unit="photo", leave=False, disable=None)


def check_scan(dataset: Path, records: Sequence[dict[str, Any]], folder: Path) -> None:
    """Check that a scan read back exactly the generator's labels.

    Raises:
        BenchmarkError: a photo is missing from the manifest or its label differs
            (crop edges by more than 1e-4, angle by more than 1e-3 deg, or its size).
    """
    rows: dict[str, dict[str, Any]] = {}
    for line in (dataset / "manifest.jsonl").read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            rows[Path(row["source"]).name] = row
    problems = []
    for rec in records:
        row = rows.get(rec["name"])
        if row is None:
            problems.append(f"{rec['name']}: not in the manifest (see {dataset}/skipped.jsonl)")
            continue
        if label_error(row, rec) is not None:
            problems.append(f"{rec['name']}: {label_error(row, rec)}")
    if problems:
        raise BenchmarkError(
            f"the scan of {folder} disagrees with the generator in {len(problems)} photo(s): "
            + "; ".join(problems[:3])
        )


def label_error(row: dict[str, Any], record: dict[str, Any]) -> str | None:
    """What differs between a manifest row and a truth record, or None."""
    if (row["width"], row["height"]) != (record["width"], record["height"]):
        return f"size {row['width']}x{row['height']}, meant {record['width']}x{record['height']}"
    got, meant = row["crop"], record["crop"]
    edges = max(abs(got[k] - meant[k]) for k in ("left", "top", "right", "bottom"))
    angle = abs(got.get("angle", 0.0) - meant["angle"])
    if edges > 1e-4 or angle > 1e-3:
        return f"crop {got}, meant {meant}"
    return None


# --------------------------------------------------------------------------- runs


def run_dir(out: Path, style: str, seed: int, tag: str = "") -> Path:
    """``DIR/<style>/[<tag>/]seed_<S>``."""
    base = out / style / tag if tag else out / style
    return base / f"seed_{seed}"


def _fractions(train_args: Sequence[str]) -> list[str]:
    """The evaluate options matching the run's split fractions, when it changes them."""
    flags = {"data.val_fraction": "--val-fraction", "data.test_fraction": "--test-fraction"}
    found: list[str] = []
    for arg in train_args:
        key, _, value = arg.lstrip("+~").partition("=")
        if key in flags and value:
            found += [flags[key], value]
    return found


def _commands(
    lib: Library, seed: int, folder: Path, train_args: Sequence[str], predict_args: Sequence[str]
) -> tuple[list[str], list[str], list[str]]:
    """The train, predict and evaluate command lines of one (style, seed)."""
    ckpt = folder / "checkpoints" / "last.ckpt"
    predictions = folder / "test_predictions.jsonl"
    train = [
        sys.executable,
        "train.py",
        "data=library",
        f"data.root={hydra_value(lib.train_ds)}",
        f"seed={seed}",
        f"paths.output_dir={hydra_value(folder)}",
        "logger=csv",
        f"hydra.run.dir={hydra_value(folder)}",
        *train_args,
    ]
    predict = [
        sys.executable,
        "predict.py",
        f"ckpt_path={hydra_value(ckpt)}",
        f"input={hydra_value(lib.test)}",
        f"output={hydra_value(predictions)}",
        "progress=false",
        f"hydra.run.dir={hydra_value(folder / 'predict')}",
        *predict_args,
    ]
    evaluate = [
        *cropperhead_command(),
        "evaluate",
        "--manifest",
        str(lib.test_ds / "manifest.jsonl"),
        "--predictions",
        str(predictions),
        "--json",
        "--usual-crop-from",
        str(lib.train_ds),
        "--split-seed",
        str(seed),
        *_fractions(train_args),
    ]
    return train, predict, evaluate


def _predict_and_score(
    predict: list[str], evaluate: list[str], folder: Path
) -> tuple[Step, Step, dict[str, Any]]:
    if not (folder / "checkpoints" / "last.ckpt").is_file():
        raise BenchmarkError(f"no {folder / 'checkpoints' / 'last.ckpt'}")
    t_predict = run_step("predict", predict, folder / "predict.log")
    t_eval = run_step("evaluate", evaluate, folder / "evaluate.log", capture=True)
    return t_predict, t_eval, json.loads(t_eval.stdout)


def _write_result(folder: Path, result: dict[str, Any], label: str) -> None:
    tmp = folder / (RESULT_NAME + ".tmp")
    tmp.write_text(json.dumps(result, indent=1) + "\n")
    os.replace(tmp, folder / RESULT_NAME)
    model, usual = result["evaluation"]["model"], result["evaluation"]["baselines"]["usual_crop"]
    say(
        f"{label}: IoU {_num(model['iou_mean'], '.3f')} (usual crop "
        f"{_num(usual['iou_mean'], '.3f')}), angle MAE {_num(model['angle_mae_deg'], '.2f')} deg"
    )


def run_one(
    lib: Library,
    seed: int,
    folder: Path,
    train_args: Sequence[str],
    predict_args: Sequence[str],
    meta: dict[str, Any],
    keep: str = "last",
) -> dict[str, Any]:
    """Train on the style's library, predict its test library, evaluate; write result.json.

    Returns:
        The result record.
    """
    if folder.exists():
        shutil.rmtree(folder)  # our own run folder: a half-finished or forced run
    folder.mkdir(parents=True)
    train, predict, evaluate = _commands(lib, seed, folder, train_args, predict_args)
    label = f"{lib.style} seed {seed}"
    say(f"{label}: train ...")
    t_train = run_step("train", train, folder / "train.log")
    say(f"{label}: trained in {t_train.wall_s / 60:.1f} min (CPU {t_train.cpu_s / 60:.1f} min)")
    if not (folder / "checkpoints" / "last.ckpt").is_file():
        raise BenchmarkError(f"train wrote no {folder / 'checkpoints' / 'last.ckpt'}")
    t_predict, t_eval, evaluation = _predict_and_score(predict, evaluate, folder)
    result = {
        "result_version": RESULT_VERSION,
        **meta,
        "style": lib.style,
        "seed": seed,
        "library": str(lib.root),
        "train": t_train.to_dict(),
        "predict": t_predict.to_dict(),
        "evaluate_step": t_eval.to_dict(),
        "commands": [shlex.join(s.argv) for s in (t_train, t_predict, t_eval)],
        "evaluation": evaluation,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    result["checkpoints_kept"] = prune_checkpoints(folder / "checkpoints", keep)
    _write_result(folder, result, label)
    return result


def repredict_one(
    lib: Library, seed: int, folder: Path, predict_args: Sequence[str], meta: dict[str, Any]
) -> dict[str, Any]:
    """Predict and evaluate again with the kept ``last.ckpt`` (``run --repredict``).

    For a change that only touches prediction (its options or its code): the training,
    its timings and its commit stay as they were; ``predict_git`` records this commit.
    """
    result = json.loads((folder / RESULT_NAME).read_text())
    if result.get("result_version") != RESULT_VERSION:
        raise BenchmarkError(f"{folder / RESULT_NAME} is of another version; run it again")
    if list(result.get("train_args", [])) != list(meta["train_args"]):
        raise BenchmarkError(
            f"it was trained with {result.get('train_args')}, not {meta['train_args']}"
        )
    _, predict, evaluate = _commands(lib, seed, folder, result["train_args"], predict_args)
    label = f"{lib.style} seed {seed}"
    say(f"{label}: predict again ...")
    t_predict, t_eval, evaluation = _predict_and_score(predict, evaluate, folder)
    result.update(
        predict_args=list(predict_args),
        predict=t_predict.to_dict(),
        evaluate_step=t_eval.to_dict(),
        evaluation=evaluation,
        predict_git=meta["git"],
        repredicted=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    )
    result["commands"] = [result["commands"][0], shlex.join(predict), shlex.join(evaluate)]
    _write_result(folder, result, label)
    return result


def prune_checkpoints(folder: Path, keep: str) -> list[str]:
    """Delete a finished run's checkpoints as ``--keep-checkpoints`` says.

    ``last`` keeps ``last.ckpt`` (what predict used), ``none`` deletes them all, ``all``
    keeps them all; a resnet18 checkpoint with its optimiser state weighs about 140 MB.

    Returns:
        The names of the checkpoints left.
    """
    if keep not in ("all", "last", "none"):
        raise ValueError(f"keep must be all, last or none, got {keep!r}")
    for path in sorted(folder.glob("*.ckpt")):
        if keep == "none" or (keep == "last" and path.name != "last.ckpt"):
            path.unlink()
    return sorted(p.name for p in folder.glob("*.ckpt"))


def _num(value: float | None, spec: str) -> str:
    return (
        "-"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else f"{value:{spec}}"
    )


def git_commit() -> str:
    """HEAD and whether the tree has changes, e.g. ``f8ad0d2+dirty`` (``""`` without git)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return ""
    return head + ("+dirty" if dirty else "")


def command_run(args: argparse.Namespace) -> int:
    """``run``: libraries, then every (style, seed) that has no result yet."""
    styles = parse_styles(args.styles)
    seeds = (
        parse_seeds(args.seeds) if args.seeds else (QUICK["seeds"] if args.quick else DEFAULT_SEEDS)
    )
    photos = args.photos or (QUICK["photos"] if args.quick else DEFAULT_PHOTOS)
    test_photos = args.test_photos or (QUICK["test_photos"] if args.quick else DEFAULT_TEST_PHOTOS)
    tag = args.tag if args.tag is not None else (QUICK["tag"] if args.quick else "")
    check_tag(tag)
    train_args = shlex.split(QUICK["train_args"] if args.quick else "") + shlex.split(
        args.train_args
    )
    predict_args = shlex.split(args.predict_args)
    out = args.out.expanduser().resolve()
    meta = {
        "tag": tag,
        "data_seed": args.data_seed,
        "photos": photos,
        "test_photos": test_photos,
        "train_args": train_args,
        "predict_args": predict_args,
        "quick": bool(args.quick),
        "git": git_commit(),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU(s)",
    }
    failed: list[str] = []
    t0 = time.perf_counter()
    for style in styles:
        try:
            lib = ensure_library(out, style, photos, test_photos, args.data_seed, args.workers)
        except BenchmarkError as exc:
            say(f"{style}: {exc}")
            failed.append(style)
            continue
        for seed in seeds:
            folder = run_dir(out, style, seed, tag)
            done = (folder / RESULT_NAME).is_file()
            if args.repredict and not done:
                say(f"{style} seed {seed}: no result to predict again, skipped")
                continue
            if done and not (args.force or args.repredict):
                say(f"{style} seed {seed}: done before ({folder / RESULT_NAME}), skipped")
                continue
            try:
                if args.repredict:
                    repredict_one(lib, seed, folder, predict_args, meta)
                else:
                    run_one(
                        lib, seed, folder, train_args, predict_args, meta, args.keep_checkpoints
                    )
            except BenchmarkError as exc:
                say(f"{style} seed {seed}: {exc}")
                failed.append(f"{style} seed {seed}")
    say(f"finished in {(time.perf_counter() - t0) / 60:.1f} min")
    print()
    print(format_report(collect(out, tag), out))
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def command_generate(args: argparse.Namespace) -> int:
    """``generate``: only build (or check) the cached libraries."""
    photos = args.photos or (QUICK["photos"] if args.quick else DEFAULT_PHOTOS)
    test_photos = args.test_photos or (QUICK["test_photos"] if args.quick else DEFAULT_TEST_PHOTOS)
    out = args.out.expanduser().resolve()
    for style in parse_styles(args.styles):
        t0 = time.perf_counter()
        lib = ensure_library(out, style, photos, test_photos, args.data_seed, args.workers)
        say(f"{style}: {lib.root} ready ({time.perf_counter() - t0:.1f} s)")
    return 0


# --------------------------------------------------------------------------- report

#: (column, key in evaluate's scores, format, in which rows)
METRICS = (
    ("IoU", "iou_mean", ".3f"),
    ("BDE", "bde_mean", ".4f"),
    ("angle MAE", "angle_mae_deg", ".2f"),
    ("aspect acc.", "aspect_accuracy", ".3f"),
    ("crop/leave acc.", "crop_accuracy", ".3f"),
)


@dataclass
class StyleSummary:
    """One style's results over its seeds (one tag)."""

    style: str
    seeds: list[int]
    #: row ("model", "usual_crop", "full_frame") -> metric key -> value per seed
    values: dict[str, dict[str, list[float]]]
    confidence_rho: list[float]
    train_cpu_min: list[float]
    train_wall_min: list[float]

    def mean(self, row: str, key: str) -> float:
        return _mean(self.values[row].get(key, []))

    def spread(self, row: str, key: str) -> float:
        return _spread(self.values[row].get(key, []))

    def goals(self) -> dict[str, bool | None]:
        """Each goal: True met, False missed, None not measurable (NaN, or one seed)."""
        iou, usual = self.mean("model", "iou_mean"), self.mean("usual_crop", "iou_mean")
        angle = self.mean("model", "angle_mae_deg")
        spread = self.spread("model", "iou_mean")
        return {
            "iou_margin": None if math.isnan(iou + usual) else iou >= usual + IOU_MARGIN,
            "angle_mae": None if math.isnan(angle) else angle <= ANGLE_MAE_MAX_DEG,
            "iou_spread": None if len(self.seeds) < 2 else spread <= IOU_SPREAD_MAX,
        }

    def goal_met(self) -> bool:
        return all(v is True for v in self.goals().values())

    def to_dict(self) -> dict[str, Any]:
        rows = {
            row: {
                key: {"mean": _clean(_mean(v)), "spread": _clean(_spread(v)), "values": v}
                for key, v in metrics.items()
            }
            for row, metrics in self.values.items()
        }
        return {
            "style": self.style,
            "seeds": self.seeds,
            "rows": rows,
            "confidence_spearman": {
                "mean": _clean(_mean(self.confidence_rho)),
                "spread": _clean(_spread(self.confidence_rho)),
            },
            "train_cpu_min": _clean(_mean(self.train_cpu_min)),
            "train_wall_min": _clean(_mean(self.train_wall_min)),
            "goals": self.goals(),
            "goal_met": self.goal_met(),
        }


def _finite(values: Sequence[float]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


def _mean(values: Sequence[float]) -> float:
    v = _finite(values)
    return float(np.mean(v)) if v else math.nan


def _spread(values: Sequence[float]) -> float:
    v = _finite(values)
    return float(max(v) - min(v)) if v else math.nan


def _clean(value: float) -> float | None:
    return None if math.isnan(value) else value


def _value(x: Any) -> float:
    return math.nan if x is None else float(x)


def collect(out: Path, tag: str = "") -> list[StyleSummary]:
    """Read every ``result.json`` of one tag under ``out`` into per-style summaries.

    Styles come in :data:`learning_styles.STYLES` order, then any others by name; seeds
    in ascending order.
    """
    pattern = f"*/{tag}/seed_*/{RESULT_NAME}" if tag else f"*/seed_*/{RESULT_NAME}"
    by_style: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(out.glob(pattern)):
        if path.parts[-4 if tag else -3] == "libraries":
            continue
        try:
            result = json.loads(path.read_text())
        except ValueError:
            say(f"ignoring unreadable {path}")
            continue
        by_style.setdefault(result.get("style", path.parts[-3]), []).append(result)
    known = list(load_styles().STYLES)
    order = sorted(by_style, key=lambda s: (known.index(s) if s in known else len(known), s))
    summaries = []
    for style in order:
        results = sorted(by_style[style], key=lambda r: r["seed"])
        values: dict[str, dict[str, list[float]]] = {row: {} for _, row in ROWS}
        rho, cpu, wall = [], [], []
        for r in results:
            ev = r["evaluation"]
            scores = {"model": ev["model"], **ev["baselines"]}
            for _, row in ROWS:
                for _, key, _ in METRICS:
                    values[row].setdefault(key, []).append(_value(scores[row].get(key)))
            conf = ev.get("confidence") or {}
            rho.append(_value(conf.get("spearman_iou")))
            cpu.append(r["train"]["cpu_s"] / 60)
            wall.append(r["train"]["wall_s"] / 60)
        summaries.append(StyleSummary(style, [r["seed"] for r in results], values, rho, cpu, wall))
    return summaries


def available_tags(out: Path) -> list[str]:
    """The tags with results under ``out`` (``""`` for untagged runs)."""
    tags = {""} if any(out.glob(f"*/seed_*/{RESULT_NAME}")) else set()
    for path in out.glob(f"*/*/seed_*/{RESULT_NAME}"):
        tags.add(path.parts[-3])
    return sorted(repr(t) if not t else t for t in tags)


def _cell(values: Sequence[float], spec: str) -> str:
    mean, spread = _mean(values), _spread(values)
    if math.isnan(mean):
        return "-"
    if len(_finite(values)) < 2:
        return f"{mean:{spec}}"
    return f"{mean:{spec}} ({spread:{spec}})"


def _verdict(value: bool | None) -> str:
    return {True: "yes", False: "NO", None: "?"}[value]


def _goal_text(s: StyleSummary) -> str:
    g = s.goals()
    iou, usual = s.mean("model", "iou_mean"), s.mean("usual_crop", "iou_mean")
    parts = [
        f"IoU {_num(iou, '.3f')} >= {_num(usual, '.3f')} + {IOU_MARGIN:g}: "
        f"{_verdict(g['iou_margin'])}",
        f"angle MAE {_num(s.mean('model', 'angle_mae_deg'), '.2f')} <= {ANGLE_MAE_MAX_DEG:g}: "
        f"{_verdict(g['angle_mae'])}",
        f"IoU spread {_num(s.spread('model', 'iou_mean'), '.3f')} <= {IOU_SPREAD_MAX:g}: "
        + (_verdict(g["iou_spread"]) if len(s.seeds) > 1 else "? (one seed)"),
    ]
    return f"{s.style}: " + "; ".join(parts) + f" -> {'MET' if s.goal_met() else 'not met'}"


def _table_rows(s: StyleSummary) -> list[list[str]]:
    rows = []
    for i, (label, row) in enumerate(ROWS):
        cells = [s.style if i == 0 else "", label]
        cells += [_cell(s.values[row].get(key, []), spec) for _, key, spec in METRICS]
        cells.append(_cell(s.confidence_rho, ".2f") if row == "model" else "")
        cells.append(_cell(s.train_cpu_min, ".1f") if row == "model" else "")
        rows.append(cells)
    return rows


HEADERS = ["style", "row", *(m[0] for m in METRICS), "conf. rho", "train CPU min"]


def format_report(summaries: Sequence[StyleSummary], out: Path, markdown: bool = False) -> str:
    """The benchmark table: per style, model / usual crop / no crop, then the goals."""
    if not summaries:
        return f"no results under {out} (run `python benchmarks/learning.py run --out {out}`)"
    seeds = sorted({len(s.seeds) for s in summaries})
    intro = (
        f"Each cell: mean over seeds (spread, max - min); {'/'.join(map(str, seeds))} seed(s) "
        "per style. conf. rho: Spearman rank correlation of the model's confidence with IoU."
    )
    rows = [r for s in summaries for r in _table_rows(s)]
    if markdown:
        lines = [
            "| " + " | ".join(HEADERS) + " |",
            "| " + " | ".join(["---", "---"] + ["---:"] * (len(HEADERS) - 2)) + " |",
        ]
        lines += ["| " + " | ".join(c or " " for c in r) + " |" for r in rows]
        lines += ["", intro, ""]
        lines += [
            "| style | model IoU - usual crop IoU (>= 0.15) | angle MAE (<= 0.5 deg) "
            "| IoU spread (<= 0.03) | goal |",
            "| --- | ---: | ---: | ---: | --- |",
        ]
        for s in summaries:
            g = s.goals()
            gap = s.mean("model", "iou_mean") - s.mean("usual_crop", "iou_mean")
            spread = s.spread("model", "iou_mean")
            spread_text = _num(spread, ".3f") if len(s.seeds) > 1 else "one seed,"
            lines.append(
                f"| {s.style} | {_num(gap, '+.3f')} {_verdict(g['iou_margin'])} "
                f"| {_num(s.mean('model', 'angle_mae_deg'), '.2f')} {_verdict(g['angle_mae'])} "
                f"| {spread_text} {_verdict(g['iou_spread'])} "
                f"| {'met' if s.goal_met() else 'not met'} |"
            )
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(HEADERS)]
    fmt = "  ".join(f"{{:<{w}}}" if i < 2 else f"{{:>{w}}}" for i, w in enumerate(widths))
    lines = [f"Learning benchmark: {out}", intro, "", fmt.format(*HEADERS)]
    for i, r in enumerate(rows):
        if i and i % len(ROWS) == 0:
            lines.append("")
        lines.append(fmt.format(*r))
    lines += ["", "Goals (means over seeds):"]
    lines += [f"  {_goal_text(s)}" for s in summaries]
    return "\n".join(lines)


def command_report(args: argparse.Namespace) -> int:
    """``report``: the table of every result of one tag."""
    out = args.out.expanduser().resolve()
    check_tag(args.tag)
    summaries = collect(out, args.tag)
    if not summaries and not args.json:
        tags = available_tags(out)
        if tags:
            print(f"no results with tag {args.tag!r} under {out}; tags there: {', '.join(tags)}")
            return 1
    if args.json:
        print(json.dumps([s.to_dict() for s in summaries], indent=2))
    else:
        print(format_report(summaries, out, markdown=args.markdown))
    return 0 if summaries else 1


# --------------------------------------------------------------------------- CLI


def parse_styles(text: str) -> list[str]:
    """``all`` or a comma-separated list of known styles."""
    known = load_styles().STYLES
    if text.strip() == "all":
        return list(known)
    styles = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in styles if s not in known]
    if unknown or not styles:
        raise argparse.ArgumentTypeError(
            f"unknown style(s) {', '.join(unknown) or text!r}; known: all, {', '.join(known)}"
        )
    return styles


def parse_seeds(text: str) -> tuple[int, ...]:
    """A comma-separated list of whole numbers."""
    try:
        seeds = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must be whole numbers, got {text!r}") from None
    if not seeds:
        raise argparse.ArgumentTypeError("no seeds given")
    return seeds


def check_tag(tag: str) -> None:
    """Refuse tags that would collide with the folder layout."""
    if tag and (not _TAG_RE.match(tag) or tag.startswith("seed_") or tag == "libraries"):
        raise SystemExit(f"error: bad --tag {tag!r} (letters, digits, _ . -; not seed_*)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="generate, scan, train, predict, evaluate")
    gen = sub.add_parser("generate", help="only build the cached libraries")
    for p in (run, gen):
        p.add_argument("--out", type=Path, required=True, metavar="DIR")
        p.add_argument("--styles", default="all", help="all, or e.g. thirds,tight (default all)")
        p.add_argument("--photos", type=int, default=0, help=f"training photos ({DEFAULT_PHOTOS})")
        p.add_argument(
            "--test-photos", type=int, default=0, help=f"test photos ({DEFAULT_TEST_PHOTOS})"
        )
        p.add_argument("--data-seed", type=int, default=0, help="the libraries' seed (0)")
        p.add_argument(
            "--workers", type=int, default=min(2, os.cpu_count() or 1), help="generator processes"
        )
        p.add_argument("--quick", action="store_true", help="smoke mode (see the docstring)")
    run.add_argument("--seeds", default="", help="training seeds (1,2,3)")
    run.add_argument(
        "--train-args", default="", help='extra train.py overrides, e.g. "model=resnet34"'
    )
    run.add_argument(
        "--predict-args",
        default=DEFAULT_PREDICT_ARGS,
        help=f"extra predict.py overrides (default {DEFAULT_PREDICT_ARGS!r})",
    )
    run.add_argument(
        "--tag", default=None, help="name of this recipe; results go to DIR/<style>/<tag>/"
    )
    run.add_argument("--force", action="store_true", help="rerun (style, seed)s that have a result")
    run.add_argument(
        "--repredict",
        action="store_true",
        help="only predict and evaluate again, with the kept last.ckpt of each result",
    )
    run.add_argument(
        "--keep-checkpoints",
        choices=("all", "last", "none"),
        default="last",
        help="checkpoints kept after a run is scored (default last: last.ckpt only)",
    )
    run.set_defaults(func=command_run)
    gen.set_defaults(func=command_generate)
    rep = sub.add_parser("report", help="the table of the results in DIR")
    rep.add_argument("--out", type=Path, required=True, metavar="DIR")
    rep.add_argument("--tag", default="", help="the recipe to show (default: untagged runs)")
    rep.add_argument("--markdown", action="store_true", help="a table for benchmarks/README.md")
    rep.add_argument("--json", action="store_true", help="the summaries as JSON")
    rep.set_defaults(func=command_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if getattr(args, "styles", None) is not None:
            parse_styles(args.styles)
        if getattr(args, "seeds", ""):
            parse_seeds(args.seeds)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    if getattr(args, "repredict", False) and args.force:
        parser.error("--repredict keeps each training; --force trains again: choose one")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
