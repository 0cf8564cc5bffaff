import pytest

from cropperhead.data.manifest import MANIFEST_NAME
from cropperhead.scan import state as scan_state
from cropperhead.scan.jsonl import write_jsonl_atomic
from cropperhead.scan.manifest import manifest_record
from tests.scan.library import state_entry


def test_state_journal_round_trip(tmp_path):
    state = scan_state.ScanState(tmp_path)
    entry = scan_state.new_entry("/photos/a.jpg", "photo", key="k1")
    state.open_journal()
    state.append(entry)
    state.append({**entry, "key": "k2"}, sync=False)
    state.close_journal()
    committed, journal = scan_state.ScanState(tmp_path).load()
    assert committed == {}
    assert journal["/photos/a.jpg"]["key"] == "k2"
    state.commit({"/photos/a.jpg": entry})
    committed, journal = scan_state.ScanState(tmp_path).load()
    assert committed == {"/photos/a.jpg": entry}
    assert journal == {}
    assert not state.journal_path.exists()


def test_missing_state_takes_over_the_manifest(tmp_path):
    line = manifest_record("images/a.jpg", "/p/a.jpg", 4, 3, {}, [], "lrcat", {})
    write_jsonl_atomic(tmp_path / MANIFEST_NAME, [line, {"junk": 1}])
    committed, _ = scan_state.ScanState(tmp_path).load()
    assert list(committed) == ["/p/a.jpg"]
    assert committed["/p/a.jpg"]["samples"] == [line]
    assert committed["/p/a.jpg"]["key"] == ""


def test_scan_lock_is_exclusive(tmp_path, monkeypatch):
    monkeypatch.setattr(scan_state, "LOCK_WAIT_S", 0.1)
    with scan_state.scan_lock(tmp_path):
        with pytest.raises(RuntimeError, match="another scan"):
            with scan_state.scan_lock(tmp_path):
                pass
    with scan_state.scan_lock(tmp_path):
        pass


def test_entry_store_round_trips_and_hands_out_copies():
    odd = "/photos/caf\udce9.jpg"  # a file name that is not UTF-8 (surrogateescape)
    entries = {
        e["id"]: e for e in (state_entry(1), state_entry(2), scan_state.new_entry(odd, "photo"))
    }
    store = scan_state.EntryStore(entries)
    assert store == entries
    assert dict(store) == entries
    assert store[odd]["id"] == odd
    assert len(store) == 3
    assert list(store) == list(entries)
    copy = store["/photos/2024/p1.jpg"]
    copy["samples"].clear()
    assert store["/photos/2024/p1.jpg"]["samples"]  # changing a value changes nothing
    del store[odd]
    assert odd not in store
    assert store != entries


def test_entry_store_merged_and_raw():
    old = scan_state.EntryStore({"a": {"k": 1}, "b": {"k": 1}})
    new = scan_state.EntryStore({"b": {"k": 2}, "c": {"k": 2}})
    merged = old.merged(new)
    assert dict(merged) == {"a": {"k": 1}, "b": {"k": 2}, "c": {"k": 2}}
    assert dict(old) == {"a": {"k": 1}, "b": {"k": 1}}  # the inputs stay as they were
    other = scan_state.EntryStore()
    other.set_raw("x", merged.raw("b"))
    assert other["x"] == {"k": 2}


def test_entry_store_holds_a_fraction_of_the_dicts_memory():
    import tracemalloc

    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        plain = {e["id"]: e for e in (state_entry(i) for i in range(2000))}
        as_dicts = tracemalloc.get_traced_memory()[0] - base
        base = tracemalloc.get_traced_memory()[0]
        store = scan_state.EntryStore(plain)
        as_store = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert store == plain
    assert as_store < as_dicts / 3, (as_store, as_dicts)


def test_commit_writes_a_store_as_it_is_held(tmp_path):
    odd = "/photos/caf\udce9.jpg"
    entries = {
        e["id"]: e for e in (state_entry(2), state_entry(1), scan_state.new_entry(odd, "photo"))
    }
    store = scan_state.EntryStore(entries)
    state = scan_state.ScanState(tmp_path)
    state.commit(store)
    lines = state.state_path.read_bytes().splitlines()
    assert lines == [store.raw(k) for k in sorted(store)]  # sorted, not decoded again
    committed, journal = scan_state.ScanState(tmp_path).load()
    assert committed == entries
    assert journal == {}


def test_scan_lock_waits_for_a_killed_scans_workers(tmp_path, monkeypatch):
    """After kill -9 of a scan, its forked workers hold the lock until they notice."""
    import subprocess
    import sys
    import time

    (tmp_path / scan_state.STATE_DIR).mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time; f = open(sys.argv[1], 'a'); "
            "fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(0.6)",
            str(tmp_path / scan_state.STATE_DIR / scan_state.LOCK_NAME),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    start = time.monotonic()
    with scan_state.scan_lock(tmp_path):
        waited = time.monotonic() - start
    holder.wait()
    assert waited < scan_state.LOCK_WAIT_S
    monkeypatch.setattr(scan_state, "LOCK_WAIT_S", 0.2)
    with scan_state.scan_lock(tmp_path), pytest.raises(RuntimeError, match="another scan"):
        with scan_state.scan_lock(tmp_path):
            pass
