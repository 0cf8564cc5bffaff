"""``cropperhead runs SWEEP_DIR``: one table of the jobs of a Hydra multirun, best first.

    cropperhead runs logs/train/multiruns/optuna_2026-11-26_10-00-00 [--json]

A sweep folder (``python train.py -m ...`` or ``hparams_search=...``) holds one folder
per job (``0/``, ``1/``, ...) with Hydra's ``.hydra/overrides.yaml``. For each job the
table gives the overrides that differ between jobs, the best validation IoU with the
boundary displacement error and angle error of that epoch, and the best checkpoint.
Numbers come from the job's CSV log (``csv/metrics.csv``, every epoch) where there is
one, else from the ``metrics.json`` that training writes when a run ends, else from the
checkpoint's file name. A job is ``finished`` or ``failed`` as its ``metrics.json`` says,
and ``unfinished`` without one (still running, or stopped without a word: killed).

``metrics.json`` is written by :func:`cropperhead.run_summary.write_run_summary`.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cropperhead.errors import print_error
from cropperhead.run_summary import RUN_SUMMARY

log = logging.getLogger(__name__)

MONITOR = "val/iou"
_CKPT_IOU = re.compile(r"iou_(\d+(?:\.\d+)?)")


class NotASweepError(ValueError):
    """The folder is not a Hydra multirun folder."""


@dataclass
class JobRecord:
    """One job of a sweep.

    Attributes:
        job: the job's folder name (Hydra's job number).
        path: the job's output folder.
        status: ``finished``, ``failed`` or ``unfinished``.
        overrides: the job's command-line overrides (Hydra's ``overrides.yaml``).
        val_iou: best validation IoU (None: not logged yet).
        bde: boundary displacement error at that epoch.
        angle_mae: angle error (degrees) at that epoch.
        epoch: the best epoch.
        checkpoint: the best checkpoint (else ``last.ckpt``), if any.
        error: the failure, for failed jobs.
        metrics: the final metrics of ``metrics.json`` (test metrics among them).
    """

    job: str
    path: str
    status: str
    overrides: list[str] = field(default_factory=list)
    val_iou: float | None = None
    bde: float | None = None
    angle_mae: float | None = None
    epoch: int | None = None
    checkpoint: str | None = None
    error: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)


def _load_yaml(path: Path) -> Any:
    import yaml

    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def find_jobs(sweep_dir: str | Path) -> list[Path]:
    """The job folders of a sweep, in job order.

    Raises:
        NotASweepError: the folder is missing or holds no Hydra job folders.
    """
    sweep = Path(sweep_dir).expanduser()
    if not sweep.is_dir():
        raise NotASweepError(f"{sweep} is not a folder")
    jobs = [
        p for p in sweep.iterdir() if p.is_dir() and (p / ".hydra" / "overrides.yaml").is_file()
    ]
    if not jobs:
        hint = ""
        if (sweep / ".hydra").is_dir():
            hint = " (it is a single run; sweeps are made with `python train.py -m ...`)"
        else:
            inner = sorted(
                (p for p in sweep.iterdir() if p.is_dir() and _looks_like_sweep(p)),
                key=lambda p: p.stat().st_mtime,
            )
            if inner:
                hint = f" (it holds sweeps: try {inner[-1]})"
        raise NotASweepError(
            f"{sweep} is not a Hydra multirun folder: no job folders with "
            f".hydra/overrides.yaml{hint}"
        )
    return sorted(jobs, key=lambda p: (0, int(p.name), "") if p.name.isdigit() else (1, 0, p.name))


def _looks_like_sweep(path: Path) -> bool:
    try:
        return any((p / ".hydra" / "overrides.yaml").is_file() for p in path.iterdir())
    except OSError:
        return False


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _best_epoch_from_csv(job: Path) -> dict[str, Any] | None:
    files = sorted(job.rglob("metrics.csv"))
    if not files:
        return None
    best: dict[str, Any] | None = None
    with files[0].open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            iou = _float(row.get(MONITOR))
            if iou is not None and (best is None or iou > best["val_iou"]):
                epoch = _float(row.get("epoch"))
                best = {
                    "val_iou": iou,
                    "bde": _float(row.get("val/bde")),
                    "angle_mae": _float(row.get("val/angle_mae")),
                    "epoch": int(epoch) if epoch is not None else None,
                }
    return best


def _best_checkpoint(job: Path) -> str | None:
    folder = job / "checkpoints"
    scored = []
    for ckpt in folder.glob("*.ckpt") if folder.is_dir() else []:
        match = _CKPT_IOU.search(ckpt.name)
        if match and ckpt.name != "last.ckpt":
            scored.append((float(match.group(1).rstrip(".")), ckpt))
    if scored:
        return str(max(scored)[1])
    last = folder / "last.ckpt"
    return str(last) if last.is_file() else None


def read_job(job: str | Path) -> JobRecord:
    """Everything the table says about one job folder."""
    job = Path(job)
    overrides = _load_yaml(job / ".hydra" / "overrides.yaml") or []
    record = JobRecord(job=job.name, path=str(job), status="unfinished", overrides=overrides)
    summary = None
    if (job / RUN_SUMMARY).is_file():
        try:
            summary = json.loads((job / RUN_SUMMARY).read_text())
        except (OSError, ValueError):
            summary = None
    if summary:
        record.status = str(summary.get("status") or "finished")
        record.error = summary.get("error")
        record.metrics = {k: v for k, v in (summary.get("metrics") or {}).items()}
        best_path = summary.get("best_model_path") or summary.get("last_model_path")
        if best_path:
            record.checkpoint = str(best_path)
    best = _best_epoch_from_csv(job)
    if best:
        for key, value in best.items():
            setattr(record, key, value)
    elif summary:
        monitored = summary.get("monitor") == MONITOR
        record.val_iou = _float(summary.get("best_model_score")) if monitored else None
        if record.val_iou is None:
            record.val_iou = _float(record.metrics.get(MONITOR))
        record.bde = _float(record.metrics.get("val/bde"))
        record.angle_mae = _float(record.metrics.get("val/angle_mae"))
    if record.checkpoint is None:
        record.checkpoint = _best_checkpoint(job)
        if record.val_iou is None and record.checkpoint:
            match = _CKPT_IOU.search(Path(record.checkpoint).name)
            record.val_iou = float(match.group(1).rstrip(".")) if match else None
    return record


def read_sweep(sweep_dir: str | Path) -> list[JobRecord]:
    """Every job of a sweep, best validation IoU first (jobs without one last).

    Raises:
        NotASweepError: the folder is not a Hydra multirun folder.
    """
    records = [read_job(job) for job in find_jobs(sweep_dir)]
    return sorted(records, key=lambda r: (r.val_iou is None, -(r.val_iou or 0.0)))


def _common(records: list[JobRecord]) -> list[str]:
    if not records:
        return []
    first = records[0].overrides
    return [o for o in first if all(o in r.overrides for r in records[1:])]


def _short(override: str) -> str:
    key, sep, value = override.partition("=")
    number = _float(value)
    if sep and number is not None and ("." in value or "e" in value.lower()):
        value = f"{number:.4g}"
    return f"{key}{sep}{value}"


def _fmt(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def format_table(sweep_dir: str | Path, records: list[JobRecord]) -> str:
    """The human table: a header line, the shared overrides, one line per job."""
    sweep = Path(sweep_dir).expanduser()
    counts: dict[str, int] = {}
    for r in records:
        counts[r.status] = counts.get(r.status, 0) + 1
    tally = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    common = _common(records) if len(records) > 1 else []
    lines = [f"sweep {sweep}: {len(records)} jobs ({tally})"]
    if common:
        lines.append("common overrides: " + " ".join(common))
    headers = ["job", "status", "val IoU", "BDE", "angle MAE", "epoch", "overrides", "checkpoint"]
    rows = []
    for r in records:
        changed = " ".join(_short(o) for o in r.overrides if o not in common) or "-"
        ckpt = r.checkpoint or "-"
        if r.checkpoint:
            try:
                ckpt = str(Path(r.checkpoint).resolve().relative_to(sweep.resolve()))
            except ValueError:
                pass
        if r.status == "failed" and r.error:
            ckpt = f"{ckpt}  [{r.error.splitlines()[0][:80]}]"
        rows.append(
            [
                r.job,
                r.status,
                _fmt(r.val_iou, 4),
                _fmt(r.bde, 4),
                _fmt(r.angle_mae, 2),
                "-" if r.epoch is None else str(r.epoch),
                changed,
                ckpt,
            ]
        )
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    right = {2, 3, 4, 5}

    def line(cells: list[str]) -> str:
        out = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(out).rstrip()

    lines.append(line(headers))
    lines.extend(line(row) for row in rows)
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """``cropperhead runs``: print the table (or JSON); 2 when the folder is not a sweep."""
    try:
        records = read_sweep(args.sweep_dir)
    except NotASweepError as exc:
        return print_error(exc)
    if args.json:
        print(json.dumps([asdict(r) for r in records], indent=1))
    else:
        print(format_table(args.sweep_dir, records))
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``cropperhead runs``."""
    parser = subparsers.add_parser(
        "runs",
        help="compare the jobs of a sweep (python train.py -m ...), best first",
        description=(
            "One table of every job under a Hydra multirun folder: the overrides that "
            "differ, best validation IoU with BDE and angle error of that epoch, the best "
            "checkpoint, sorted best first; unfinished and failed jobs are listed as such."
        ),
    )
    parser.add_argument("sweep_dir", metavar="SWEEP_DIR", help="e.g. logs/train/multiruns/DATE")
    parser.add_argument("--json", action="store_true", help="print the records as JSON")
    parser.set_defaults(func=run)
