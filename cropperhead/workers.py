"""Helper processes that never outlive the process that started them.

A decoding worker whose parent was killed (``kill -9``, the OOM killer) would otherwise
wait for work forever, holding its memory and any file lock it inherited.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time

#: How often the fallback watcher checks that the parent is alive (seconds).
PARENT_POLL_S = 0.5
_PR_SET_PDEATHSIG = 1


def _set_parent_death_signal() -> bool:
    """Ask Linux to SIGKILL this process when its parent dies; False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(PARENT_POLL_S)
    os._exit(1)


def exit_with_parent(parent_pid: int) -> None:
    """Make the calling (child) process end as soon as ``parent_pid`` is gone.

    On Linux the kernel kills it the moment the parent dies; elsewhere a daemon thread
    polls the parent. Call it first thing in a worker's initialiser.
    """
    if not _set_parent_death_signal():
        threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    if os.getppid() != parent_pid:  # the parent died before we asked
        os._exit(1)


def cpu_cores() -> int:
    """The CPU cores this process may run on (its affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
