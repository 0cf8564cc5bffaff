"""The scan itself: from SOURCE folders and catalogs to an updated data set.

:func:`scan_library` (``cropperhead scan``, docs/interfaces.md) checks its arguments
(:mod:`cropperhead.scan.arguments`), takes the data set's lock, and then, in
:class:`_Scan`: walks the sources and reads the catalogs (:mod:`cropperhead.scan.inputs`),
keys every photo (:mod:`cropperhead.scan.keys`) against the state of the last scan
(:mod:`cropperhead.scan.state`), hands the new and changed ones to the workers
(:mod:`cropperhead.scan.pool`, or this process when there are few), journals each result
as it arrives, and at the end commits the state, rewrites ``manifest.jsonl`` and
``skipped.jsonl`` (:mod:`cropperhead.scan.manifest`) and deletes the images no sample
uses any more. The rules it applies are listed in :mod:`cropperhead.scan`.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from cropperhead import imaging
from cropperhead.metadata.types import UNREADABLE, DevelopSettings
from cropperhead.scan import inputs, relocate, walker
from cropperhead.scan.arguments import check_arguments
from cropperhead.scan.keys import photo_key
from cropperhead.scan.manifest import IMAGES_DIR, skipped_record, write_outputs
from cropperhead.scan.photo import PhotoJob, ScanConfig, Sidecar, _read_sidecar, process_photo
from cropperhead.scan.pool import PHOTOS_PER_WORKER, quiet_exifread, run_pool
from cropperhead.scan.state import (
    Entry,
    EntryStore,
    ScanState,
    new_entry,
    remove_stale_temporaries,
    scan_lock,
)
from cropperhead.scan.summary import ScanSummary
from cropperhead.workers import cpu_cores

#: Fsync the journal at most this often (seconds); it is flushed after every photo.
JOURNAL_SYNC_S = 0.5

IMAGE_NAME_RE = re.compile(r"^.+_[0-9a-f]{16}\.jpg$")

#: A photo to label, as :meth:`_Scan._plan` keeps it: ``(photo, key, SOURCE argument or
#: None, sidecar paths)``, all strings.
_ToDo = tuple[str, str, str | None, tuple[str, ...]]


def scan_library(
    sources: Sequence[Path],
    out: Path,
    *,
    size: int = 512,
    catalogs: Sequence[Path] = (),
    include_uncropped: bool = False,
    fields: Sequence[str] = (),
    prune: bool = False,
    workers: int | None = None,
    progress: bool = True,
    path_maps: Sequence[str | relocate.PathMap] = (),
) -> ScanSummary:
    """Build or update a training set from photos, sidecars and catalogs.

    This is ``cropperhead scan`` (docs/interfaces.md) as a function; the rules are in
    the :mod:`cropperhead.scan` docstring.

    Args:
        sources: folders (walked recursively) and files.
        out: the DATASET_DIR (created when absent).
        size: long side of the written images in pixels (never enlarged).
        catalogs: Lightroom Classic catalogs; all their photos are scanned.
        include_uncropped: reviewed, uncropped photos become full-frame samples.
        fields: ``crs:NAME`` develop settings to record under ``extra``.
        prune: drop samples whose source file is gone.
        workers: decoding processes; default all cores. With 1 (or fewer than four
            photos per worker to decode) photos are decoded in this process; otherwise
            in worker processes, forked where that is safe and else *spawned*, so a
            script that calls this needs the usual ``if __name__ == "__main__":`` guard.
        progress: show a progress bar on stderr (only when it is a terminal).
        path_maps: ``OLD=NEW`` texts or :class:`~cropperhead.scan.relocate.PathMap`:
            a catalog's photos under OLD now lie under NEW
            (:mod:`cropperhead.scan.relocate`).

    Returns:
        What the scan did and what the data set now holds.

    Raises:
        ScanError: bad arguments or an unusable output folder (nothing is written).
        RuntimeError: another scan is writing to ``out``, or worker processes cannot
            start.
        KeyboardInterrupt: passed on; the previous manifest stays, the next scan resumes.
    """
    sources = [Path(s) for s in sources]
    catalogs = [Path(c) for c in catalogs]
    out = Path(out)
    checked, maps = check_arguments(sources, out, size, catalogs, fields, workers, path_maps)
    config = ScanConfig(
        out=walker.absolute(out),
        size=size,
        fields=checked,
        include_uncropped=include_uncropped,
    )
    quiet_exifread()
    with scan_lock(out):
        scan = _Scan(config, sources, catalogs, prune, workers or cpu_cores(), progress, maps)
        return scan.run()


class _Scan:
    """One run of :func:`scan_library` (inside the output folder's lock)."""

    def __init__(
        self,
        config: ScanConfig,
        sources: list[Path],
        catalogs: list[Path],
        prune: bool,
        workers: int,
        progress: bool,
        path_maps: Sequence[relocate.PathMap] = (),
    ) -> None:
        self.config = config
        self.path_maps = tuple(path_maps)
        self.sources = sources
        self.catalogs = list(dict.fromkeys(walker.absolute(c) for c in catalogs))
        self.prune = prune
        self.workers = workers
        self.progress = progress
        self.store = ScanState(config.out)
        self.summary = ScanSummary(out=config.out)
        self.produced = EntryStore()
        self._last_sync = 0.0

    def run(self) -> ScanSummary:
        start = time.monotonic()
        committed, journal = self.store.load()
        previous = committed.merged(journal)
        walk = walker.walk_sources(self.sources, exclude=[self.config.out])
        rows = self._read_catalogs()
        self._walk_records(walk)
        todo = self._plan(walk, rows, committed, previous, journal)
        # What _merge needs of the walk, as strings; the Path objects go.
        walked = {str(photo) for photo in walk.photo_inputs}
        del walk
        self._committed = committed
        self.store.open_journal()
        try:
            self._run_jobs(self._jobs(todo, rows), len(todo))
        finally:
            self.store.close_journal()
        del rows, self._committed
        final = self._merge(previous, walked)
        written = _image_names(previous) | _image_names(self.produced)
        del previous, committed, journal
        self.store.commit(final)
        outputs = write_outputs(self.config.out, final)
        self._collect_garbage(outputs.images, written)
        self.summary.samples_by_origin = dict(outputs.samples_by_origin)
        self.summary.skipped_by_reason = dict(outputs.skipped_by_reason)
        self.summary.seconds = time.monotonic() - start
        return self.summary

    # ---- inputs

    def _read_catalogs(self) -> dict[Path, list[DevelopSettings]]:
        """The catalog rows by photo; their skip records and hints go to this run."""
        found = inputs.read_catalogs(self.catalogs, self.config.fields, self.path_maps)
        self.row_catalogs = found.catalogs
        for entry in found.entries:
            self.produced[entry["id"]] = entry
        self.summary.hints.extend(found.hints)
        return found.rows

    def _walk_records(self, walk: walker.WalkResult) -> None:
        for entry in inputs.walk_records(walk):
            self.produced[entry["id"]] = entry

    def _plan(
        self,
        walk: walker.WalkResult,
        rows: dict[Path, list[DevelopSettings]],
        committed: EntryStore,
        previous: EntryStore,
        journal: EntryStore,
    ) -> deque[_ToDo]:
        """Decide, per photo, whether its entry can be reused; return the photos to label.

        A photo to label is kept as a small tuple of strings, not as a
        :class:`PhotoJob` (Path objects, sidecar records): :meth:`_jobs` builds the jobs
        one at a time while the workers run, so that a large library does not hold a
        job per photo next to the entries it produces.
        """
        todo: deque[_ToDo] = deque()
        roots: dict[Path, str] = {}  # one str per SOURCE argument, shared by its photos
        given = {str(c) for c in self.catalogs}
        sidecar_cache: dict[Path, dict[str, list[Path]]] = {}
        names_cache: dict[Path, dict[str, list[str]]] = {}
        for photo in sorted(set(walk.photos) | set(rows)):
            photo_id = str(photo)
            photo_rows = rows.get(photo, [])
            input_root = walk.photo_inputs.get(photo)
            before = previous.get(photo_id)
            if not photo_rows and self._kept_by_its_catalog(before, given):
                # Labelled from a catalog not given now: the catalog stays the truth.
                self._reuse(photo, before["key"], previous, committed, journal)
                continue
            stat = self._stat(photo, input_root)
            if stat is None:
                continue
            sidecars = tuple(
                _read_sidecar(p) for p in walker.find_sidecars(photo, sidecar_cache, names_cache)
            )
            key = photo_key(stat, sidecars, photo_rows, self.config)
            if before is not None and before.get("key") == key and self._images_exist(before):
                self._reuse(photo, key, previous, committed, journal)
                continue
            root = None if input_root is None else roots.setdefault(input_root, str(input_root))
            todo.append((photo_id, key, root, tuple(str(s.path) for s in sidecars)))
        return todo

    def _kept_by_its_catalog(self, before: Entry | None, given: set[str]) -> bool:
        """Whether ``before`` was labelled from catalogs none of which is given now."""
        return (
            before is not None
            and bool(before.get("catalogs"))
            and not set(before["catalogs"]) & given
            and self._images_exist(before)
        )

    def _reuse(
        self,
        photo: Path,
        key: str,
        previous: EntryStore,
        committed: EntryStore,
        journal: EntryStore,
    ) -> None:
        """Keep the previous entry of ``photo`` (from the state or the journal) as it is."""
        self.produced.set_raw(str(photo), previous.raw(str(photo)))
        self._count(committed, photo, key, journal)

    def _stat(self, photo: Path, input_root: Path | None) -> os.stat_result | None:
        """The photo's stat; None, with a skip record in this run, when it cannot be read."""
        try:
            return photo.stat()
        except OSError as exc:
            photo_id = str(photo)
            entry = new_entry(photo_id, "photo", "", str(input_root) if input_root else None)
            entry["skipped"].append(
                skipped_record(photo, UNREADABLE, f"cannot read: {exc.strerror or exc}")
            )
            self.produced[photo_id] = entry
            return None

    def _jobs(
        self, todo: deque[_ToDo], rows: dict[Path, list[DevelopSettings]]
    ) -> Iterator[PhotoJob]:
        """The jobs of :meth:`_plan`'s to-do list, built (and dropped) one at a time.

        Sidecars travel without their bytes; the worker reads them again.
        """
        while todo:
            photo_id, key, root, sidecars = todo.popleft()
            photo = Path(photo_id)
            yield PhotoJob(
                photo=photo,
                key=key,
                input=root,
                sidecars=tuple(Sidecar(Path(p), None) for p in sidecars),
                catalog_rows=tuple(rows.get(photo, ())),
                catalogs=tuple(sorted(self.row_catalogs.get(photo, ()))),
            )

    def _images_exist(self, entry: Entry) -> bool:
        """Whether every image of ``entry`` is there and whole (else it is made again)."""
        return all(
            imaging.jpeg_is_complete(self.config.out / s["image"]) for s in entry.get("samples", ())
        )

    def _count(
        self,
        committed: EntryStore,
        photo: Path,
        key: str,
        journal: EntryStore | None = None,
    ) -> None:
        before = committed.get(str(photo))
        if before is None:
            self.summary.new += 1
        elif before.get("key") == key:
            self.summary.unchanged += 1
            return
        else:
            self.summary.updated += 1
        if journal is not None and str(photo) in journal:
            self.summary.resumed += 1

    # ---- running

    def _finish(self, entry: Entry, decoded: bool) -> None:
        self.produced[entry["id"]] = entry
        self._count(self._committed, Path(entry["id"]), entry["key"])
        self.summary.decoded += int(decoded)
        now = time.monotonic()
        sync = now - self._last_sync >= JOURNAL_SYNC_S
        self.store.append(entry, sync=sync)
        if sync:
            self._last_sync = now

    def _run_jobs(self, jobs: Iterable[PhotoJob], count: int) -> None:
        """Label ``count`` photos (``jobs`` yields exactly that many)."""
        if not count:
            return
        bar = _progress_bar(count, self.progress)
        try:

            def done(entry: Entry, decoded: bool) -> None:
                self._finish(entry, decoded)
                bar.update(1)

            # A worker process costs about a second to start: only worth it with work.
            workers = min(self.workers, max(1, count // PHOTOS_PER_WORKER))
            if workers <= 1:
                for job in jobs:
                    done(*process_photo(job, self.config))
            else:
                run_pool(jobs, self.config, workers, done, count)
        finally:
            bar.close()

    # ---- the new state

    def _merge(self, previous: EntryStore, walked: set[str]) -> EntryStore:
        given = {str(c) for c in self.catalogs}
        roots = [walker.absolute(s) for s in self.sources]
        final = EntryStore()
        for entry_id in previous:
            if entry_id in self.produced:
                continue
            entry = previous[entry_id]
            if entry.get("kind") == "input":
                if self._input_redone(entry_id, given, roots):
                    continue
            elif self._pruned(entry_id, entry, given, walked):
                self.summary.pruned += 1
                continue
            final.set_raw(entry_id, previous.raw(entry_id))
        for entry_id in self.produced:
            final.set_raw(entry_id, self.produced.raw(entry_id))
        return final

    def _input_redone(self, entry_id: str, given: set[str], roots: list[Path]) -> bool:
        """Whether an input's previous skip records go: looked at again, or pruned."""
        source = Path(entry_id.split(":", 1)[1])
        looked_again = (entry_id.startswith("catalog:") and str(source) in given) or (
            entry_id.startswith("file:") and any(source.is_relative_to(r) for r in roots)
        )
        return looked_again or (self.prune and not source.exists())

    def _pruned(self, entry_id: str, entry: Entry, given: set[str], walked: set[str]) -> bool:
        """Whether ``--prune`` drops a previous photo: it is gone, or its catalog dropped it."""
        photo = Path(entry_id)
        dropped_from_catalog = (
            bool(set(entry.get("catalogs", ())) & given) and entry_id not in walked
        )
        return self.prune and (not photo.exists() or dropped_from_catalog)

    def _collect_garbage(self, used: set[str], written: set[str]) -> None:
        """Delete the images of ours that the data set no longer uses, and our temporaries.

        An image is ours when a scan's state names it (``written``: the previous state,
        the journal and this run) or when it carries the scan's JPEG comment (written by
        a worker whose result never reached the journal). A file merely named like one
        of ours is left alone.
        """
        remove_stale_temporaries(self.config.out)
        images_dir = self.config.out / IMAGES_DIR
        try:
            names = os.listdir(images_dir)
        except OSError:
            return
        for name in names:
            if name in used or not IMAGE_NAME_RE.match(name):
                continue
            path = images_dir / name
            if name in written or imaging.is_scan_image(path):
                with contextlib.suppress(OSError):
                    path.unlink()


def _image_names(entries: EntryStore) -> set[str]:
    """The image file names the samples of ``entries`` refer to."""
    names: set[str] = set()
    for entry_id in entries:
        for sample in entries[entry_id].get("samples", ()):
            names.add(Path(sample["image"]).name)
    return names


def _progress_bar(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    # No monitor thread: a second thread would rule out forking the workers.
    tqdm.monitor_interval = 0
    return tqdm(
        total=total,
        unit="photo",
        desc="scan",
        file=sys.stderr,
        disable=not (enabled and sys.stderr.isatty()),
        dynamic_ncols=True,
    )


__all__ = ["scan_library"]
