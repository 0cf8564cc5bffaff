"""The scan's own memory in ``DATASET_DIR/.scan/``: its state, its journal and its lock.

With these a scan is incremental (a photo whose key is unchanged is reused, not read)
and survives being interrupted (every finished photo is journaled, and the next scan
takes it over)::

    .scan/state.jsonl   one *entry* per photo (or per input's skip records): what the last
                        completed scan decided, and the key it decided it under
    .scan/journal.jsonl entries appended (and fsynced) while a scan runs; a scan that is
                        interrupted leaves it behind and the next scan reuses it
    .scan/lock          held (flock) while a scan writes, so two scans cannot mix

``state.jsonl`` is only ever replaced whole (:func:`cropperhead.scan.jsonl.atomic_text`),
so a crash leaves the previous version intact. manifest.jsonl and skipped.jsonl
(:mod:`cropperhead.scan.manifest`, docs/interfaces.md) are rebuilt from the state.

A state entry is a JSON object::

    {"v": 1, "id": "/abs/photo.jpg", "kind": "photo", "key": "<sha256>",
     "input": "/abs/SOURCE" | null, "catalogs": ["/abs/cat.lrcat", ...],
     "samples": [manifest line, ...], "skipped": [skipped line, ...]}

``kind`` is ``"photo"`` for a photo, or ``"input"`` for the skip records an input
(a SOURCE or a catalog) produced without a photo behind them (orphan sidecars,
catalog rows whose file is gone, corrupt catalog rows); those are re-derived every
time their input is scanned again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import Any

from cropperhead import files
from cropperhead.data.manifest import MANIFEST_NAME
from cropperhead.scan.jsonl import (
    JSON_ERRORS,
    atomic_text,
    json_line,
    read_jsonl,
    write_jsonl_atomic,
)
from cropperhead.scan.manifest import IMAGES_DIR, MANIFEST_KEYS

logger = logging.getLogger(__name__)

STATE_DIR = ".scan"
STATE_NAME = "state.jsonl"
JOURNAL_NAME = "journal.jsonl"
LOCK_NAME = "lock"
#: What a data set's marker says (:func:`cropperhead.files.mark_folder`).
DATASET_KIND = "dataset"
#: How long a scan waits for the lock before saying another scan is writing.
LOCK_WAIT_S = 3.0
#: Version of the state format; a state of another version is read as absent.
STATE_VERSION = 1

Entry = dict[str, Any]


class EntryStore(MutableMapping[str, Entry]):
    """Entries by id, each held as one compact JSON text instead of nested dicts.

    A scan holds an entry for every photo of the data set (the state it loads, the
    entries it produces, the merged result it writes), so these take memory in
    proportion to the library. As JSON bytes an entry takes a fraction of what the same
    entry takes as Python dicts, lists and floats (benchmarks/README.md, "Scan"). Reading
    an entry decodes it, which is cheap beside decoding its photo.

    Values are decoded copies: changing one does not change the store; store the entry
    again. :meth:`raw` and :meth:`set_raw` move entries between stores without decoding.
    Equality with any mapping compares the decoded entries.
    """

    def __init__(self, entries: Mapping[str, Entry] | Iterable[tuple[str, Entry]] = ()) -> None:
        self._data: dict[str, bytes] = {}
        self.update(entries)

    @staticmethod
    def pack(entry: Entry) -> bytes:
        """An entry's compact JSON text (ASCII, so any path survives)."""
        return json.dumps(entry, separators=(",", ":")).encode("ascii")

    def __getitem__(self, entry_id: str) -> Entry:
        return json.loads(self._data[entry_id])

    def __setitem__(self, entry_id: str, entry: Entry) -> None:
        self._data[entry_id] = self.pack(entry)

    def __delitem__(self, entry_id: str) -> None:
        del self._data[entry_id]

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"EntryStore({len(self)} entries)"

    def raw(self, entry_id: str) -> bytes:
        """The stored JSON text of an entry."""
        return self._data[entry_id]

    def set_raw(self, entry_id: str, data: bytes) -> None:
        """Store an entry given as JSON text (from :meth:`raw` of another store)."""
        self._data[entry_id] = data

    def merged(self, other: EntryStore) -> EntryStore:
        """A new store with this one's entries, then ``other``'s (which win)."""
        result = EntryStore()
        result._data = {**self._data, **other._data}
        return result


class ScanState:
    """The entries of the last completed scan, plus those of an interrupted one.

    Args:
        out: the DATASET_DIR.
    """

    def __init__(self, out: Path) -> None:
        self.out = out
        self.folder = out / STATE_DIR
        self.state_path = self.folder / STATE_NAME
        self.journal_path = self.folder / JOURNAL_NAME
        self._journal_fh: Any = None

    def load(self) -> tuple[EntryStore, EntryStore]:
        """Read the committed state and the journal of an interrupted scan.

        When there is no usable state but a manifest exists (a state folder deleted by
        hand, a state of another version), the manifest's samples are taken over with an
        empty key: they stay in the data set and are recomputed when their photo is
        scanned again.

        Returns:
            ``(state, journal)``, each id -> entry; the last journal line of an id wins.
        """
        state = EntryStore()
        for entry in read_jsonl(self.state_path):
            if entry.get("v") == STATE_VERSION and isinstance(entry.get("id"), str):
                state[entry["id"]] = entry
        if not state:
            taken: dict[str, Entry] = {}
            for line in read_jsonl(self.out / MANIFEST_NAME):
                source = line.get("source")
                if not isinstance(source, str) or not all(k in line for k in MANIFEST_KEYS):
                    continue
                entry = taken.setdefault(source, new_entry(source, "photo", key=""))
                entry["samples"].append({k: line[k] for k in MANIFEST_KEYS})
            state.update(taken)
        journal = EntryStore()
        for entry in read_jsonl(self.journal_path):
            if entry.get("v") == STATE_VERSION and isinstance(entry.get("id"), str):
                journal[entry["id"]] = entry
        return state, journal

    def open_journal(self) -> None:
        """Open the journal for appending (kept from an interrupted scan, if any)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._journal_fh = self.journal_path.open("a", encoding="utf-8", errors=JSON_ERRORS)

    def append(self, entry: Entry, sync: bool = True) -> None:
        """Append one finished entry to the journal; fsync it when ``sync``."""
        fh = self._journal_fh
        fh.write(json_line(entry))
        fh.flush()
        if sync:
            os.fsync(fh.fileno())

    def close_journal(self) -> None:
        """Flush, fsync and close the journal (it stays on disk)."""
        fh, self._journal_fh = self._journal_fh, None
        if fh is not None:
            with contextlib.suppress(OSError):
                fh.flush()
                os.fsync(fh.fileno())
            fh.close()

    def commit(self, entries: Mapping[str, Entry]) -> None:
        """Write ``entries`` as the new state, then drop the journal.

        An :class:`EntryStore`'s entries are written as they are held (compact JSON),
        without decoding them.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        if isinstance(entries, EntryStore):
            with atomic_text(self.state_path) as fh:
                for k in sorted(entries):
                    fh.write(entries.raw(k).decode("ascii") + "\n")
        else:
            write_jsonl_atomic(self.state_path, (entries[k] for k in sorted(entries)))
        self.close_journal()
        with contextlib.suppress(FileNotFoundError):
            self.journal_path.unlink()
        files.fsync_dir(self.folder)


def new_entry(
    entry_id: str,
    kind: str,
    key: str = "",
    input_path: str | None = None,
    catalogs: Iterable[str] = (),
) -> Entry:
    """An empty state entry (see the module docstring for the fields)."""
    return {
        "v": STATE_VERSION,
        "id": entry_id,
        "kind": kind,
        "key": key,
        "input": input_path,
        "catalogs": sorted(set(catalogs)),
        "samples": [],
        "skipped": [],
    }


@contextlib.contextmanager
def scan_lock(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on DATASET_DIR for the duration of a scan.

    Raises:
        RuntimeError: another scan holds the lock.
    """
    folder = out / STATE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no locking
        yield
        return
    with (folder / LOCK_NAME).open("a") as fh:
        # A scan killed with kill -9 leaves its worker processes holding the lock for
        # the moment they take to notice and exit: wait that long before refusing.
        deadline = time.monotonic() + LOCK_WAIT_S
        try:
            while True:
                try:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError as exc:
                    if time.monotonic() >= deadline:
                        raise RuntimeError(f"another scan is writing to {out}") from exc
                    time.sleep(0.05)
        except OSError as exc:  # a file system without locks (some network mounts)
            logger.warning("cannot lock %s (%s); make sure no other scan writes there", out, exc)
            yield
            return
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def is_dataset(out: Path) -> bool:
    """Whether ``out`` is a data set a scan made (its marker, or an older scan's state)."""
    if files.is_marked(out, DATASET_KIND):
        return True
    return any((out / STATE_DIR / name).is_file() for name in (STATE_NAME, JOURNAL_NAME))


def remove_stale_temporaries(out: Path) -> int:
    """Delete temporary files that an interrupted scan left behind; returns how many.

    Only files that :func:`cropperhead.files.is_stale_temporary` proves to be ours and
    abandoned, in DATASET_DIR, ``.scan/`` and ``images/``. Call it only while holding
    :func:`scan_lock`.
    """
    return sum(
        files.remove_stale_temporaries(folder)
        for folder in (out, out / STATE_DIR, out / IMAGES_DIR)
    )
