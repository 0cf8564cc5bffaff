"""Faults injected into a real scan from outside: a ``kill -9`` and a crashing decoder.

The scan carries no test hooks of its own; the crash-safety tests replace one of its
functions instead:

- :func:`kill_after` makes the scanning process send itself SIGKILL right after it
  journaled its N-th photo: a reproducible ``kill -9`` in the middle of a scan. That
  kills the process that runs it, so it runs in a subprocess, this file as a script::

      python tests/scan/hooked_scan.py --kill-after N scan SOURCE --out DS ...

  (:func:`tests.scan.library.run_cli` with ``kill_after``).
- :func:`crash_on` stands in for :func:`cropperhead.scan.photo.process_photo` in the
  pool (``cropperhead.scan.pool.process_photo``): a *pool worker* given the photo of
  that name exits at once, as a crashing decoder would. Workers may be spawned, and a
  spawned worker does not see the parent's monkeypatching; but the pool sends it the
  function to run by name, so a module-level function of an importable module (bound
  with :func:`functools.partial`) reaches forked and spawned workers alike.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import sys
from collections.abc import Sequence

from cropperhead.scan import photo, state
from cropperhead.scan.photo import PhotoJob, ScanConfig
from cropperhead.scan.state import Entry

#: The exit status of a worker that "crashed" (any abnormal exit breaks the pool).
CRASH_STATUS = 70


def kill_after(count: int) -> None:
    """Make this process SIGKILL itself right after journaling its ``count``-th photo."""
    append = state.ScanState.append
    appended = 0

    def append_then_maybe_die(self: state.ScanState, entry: Entry, sync: bool = True) -> None:
        nonlocal appended
        append(self, entry, sync)
        appended += 1
        if appended >= count:
            os.kill(os.getpid(), signal.SIGKILL)

    state.ScanState.append = append_then_maybe_die  # type: ignore[method-assign]


def crash_on(name: str, job: PhotoJob, config: ScanConfig) -> tuple[Entry, bool]:
    """``process_photo``, except that a pool worker given the photo ``name`` dies at once.

    In the scanning process itself (no pool) it is ``process_photo`` unchanged.
    """
    if job.photo.name == name and multiprocessing.parent_process() is not None:
        os._exit(CRASH_STATUS)
    return photo.process_photo(job, config)


def main(argv: Sequence[str]) -> int:
    """``cropperhead ARGS...`` with the faults named before ARGS injected."""
    parser = argparse.ArgumentParser(allow_abbrev=False)
    parser.add_argument("--kill-after", type=int, metavar="N")
    hooks, rest = parser.parse_known_args(argv)
    if hooks.kill_after is not None:
        kill_after(hooks.kill_after)
    from cropperhead.cli import main as cropperhead

    return cropperhead(rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
