"""The worker processes that decode a scan's photos, and how they survive a bad file.

:func:`run_pool` runs :func:`cropperhead.scan.photo.process_photo` over the jobs on a
process pool and hands each result back to the scan as it arrives, so that the scan
can journal it at once. A decoder that crashes (or the OOM killer) takes its worker
and the whole pool with it; the photos that were in flight are then retried one at a
time, so that one bad file costs one photo and not the scan. Workers are forked where
that is safe and spawned otherwise (:func:`_pool_context`), and they end when the
scanning process dies (:func:`cropperhead.workers.exit_with_parent`), so a scan killed
with ``kill -9`` leaves no process behind holding its lock.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from cropperhead.metadata.types import UNREADABLE
from cropperhead.scan.manifest import skipped_record
from cropperhead.scan.photo import PhotoJob, ScanConfig, process_photo
from cropperhead.scan.state import Entry, new_entry
from cropperhead.workers import exit_with_parent

logger = logging.getLogger(__name__)

#: Fewest photos to decode per worker process started (fewer: decode in this process).
PHOTOS_PER_WORKER = 4


def _worker_init(level: int, parent_pid: int) -> None:
    # Ctrl-C reaches the whole process group; the main process handles it alone.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    quiet_exifread()
    # A pool worker whose scan was killed (kill -9) would wait for work forever: its
    # queue's other end lives in the worker too. Leave as soon as the parent is gone.
    exit_with_parent(parent_pid)


def quiet_exifread() -> None:
    """Silence exifread's warnings, in the scanning process and in every worker."""
    # exifread warns about every JPEG without an EXIF block (see metadata/exif.py).
    logging.getLogger("exifread").setLevel(logging.ERROR)


def _crashed_entry(job: PhotoJob) -> Entry:
    # An empty key: the next scan tries again (the crash may have been the OOM killer).
    entry = new_entry(str(job.photo), "photo", "", job.input, job.catalogs)
    entry["skipped"].append(
        skipped_record(job.photo, UNREADABLE, "the decoder crashed on this file")
    )
    return entry


def _new_pool(context: Any, workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_worker_init,
        initargs=(logging.getLogger().getEffectiveLevel(), os.getpid()),
    )


class _Pending:
    """The jobs not yet submitted: read lazily from an iterator, plus jobs put back."""

    def __init__(self, jobs: Iterable[PhotoJob], count: int) -> None:
        self._jobs = iter(jobs)
        self._back: deque[PhotoJob] = deque()
        self._left = count

    def __len__(self) -> int:
        return self._left

    def popleft(self) -> PhotoJob:
        job = self._back.popleft() if self._back else next(self._jobs)
        self._left -= 1
        return job

    def appendleft(self, job: PhotoJob) -> None:
        self._back.appendleft(job)
        self._left += 1


def run_pool(
    jobs: Iterable[PhotoJob],
    config: ScanConfig,
    workers: int,
    done: Callable[[Entry, bool], None],
    count: int | None = None,
) -> None:
    """Run jobs on a process pool; survive workers that die on a bad file.

    When a worker dies (a decoder crash, the OOM killer), the pool breaks and every
    photo in flight fails; those are retried one at a time in a one-worker pool (a new
    one after each death), the one that kills that too is recorded as ``unreadable``,
    and a fresh pool takes the rest.

    Args:
        jobs: the jobs, read as the pool takes them (a generator is fine).
        config: the scan settings.
        workers: processes.
        done: called with each finished ``(entry, decoded)``.
        count: how many jobs ``jobs`` yields; needed when it has no ``len``.
    """
    context = _pool_context()
    pending = _Pending(jobs, len(jobs) if count is None else count)  # type: ignore[arg-type]
    while pending:
        crashed: list[PhotoJob] = []
        pool = _new_pool(context, min(workers, len(pending)))
        inflight: dict[Any, PhotoJob] = {}
        try:
            while pending or inflight:
                while pending and len(inflight) < 2 * workers:
                    job = pending.popleft()
                    try:
                        inflight[pool.submit(process_photo, job, config)] = job
                    except BrokenProcessPool:
                        pending.appendleft(job)
                        raise
                finished, _ = wait(inflight, return_when=FIRST_COMPLETED)
                for future in finished:
                    job = inflight.pop(future)
                    try:
                        entry, decoded = future.result()
                    except BrokenProcessPool:
                        crashed.append(job)
                        continue
                    done(entry, decoded)
        except BrokenProcessPool:
            crashed.extend(inflight.values())
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        if crashed:
            _run_isolated(crashed, config, context, done)


def _pool_context() -> Any:
    """``fork`` where it is safe, else ``spawn``.

    Safe: Linux, this process runs a single thread and has not imported torch. Forked
    workers start at once; spawned ones first import Python, numpy, Pillow and the
    decoders first, which measurably slows a scan (see
    benchmarks/README.md, "Scan"). Forking a process with other threads, or one whose
    OpenMP pool (torch) is running, can deadlock the child, hence the conditions.
    """
    if (
        sys.platform.startswith("linux")
        and threading.active_count() == 1
        and "torch" not in sys.modules
    ):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _run_isolated(
    jobs: list[PhotoJob],
    config: ScanConfig,
    context: Any,
    done: Callable[[Entry, bool], None],
) -> None:
    """Run jobs one at a time in a one-worker pool, replaced after each death.

    Raises:
        RuntimeError: worker processes cannot even start (a script without the
            ``__main__`` guard, a broken environment); without this check every photo
            would look like a decoder crash.
    """
    pool = _new_pool(context, 1)
    try:
        try:
            pool.submit(os.getpid).result(timeout=120)
        except Exception as exc:
            raise RuntimeError(
                f"worker processes cannot start ({type(exc).__name__}); run the scan with "
                "--workers 1 (workers=1), or call it under `if __name__ == '__main__':`"
            ) from exc
        for job in jobs:
            try:
                done(*pool.submit(process_photo, job, config).result())
            except BrokenProcessPool:
                logger.warning("%s: the decoder crashed", job.photo)
                done(_crashed_entry(job), True)
                pool.shutdown(wait=True)
                pool = _new_pool(context, 1)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
