import json

import pytest

from cropperhead.scan import manifest


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "manifest.jsonl"
    assert manifest.write_jsonl_atomic(path, [{"a": 1}, {"b": "é"}]) == 2
    assert [json.loads(line) for line in path.read_text().splitlines()] == [{"a": 1}, {"b": "é"}]
    assert manifest.write_jsonl_atomic(path, [{"c": 3}]) == 1
    assert path.read_text() == '{"c": 3}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.jsonl"]


def test_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "manifest.jsonl"
    manifest.write_jsonl_atomic(path, [{"old": True}])

    def records():
        yield {"new": 1}
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        manifest.write_jsonl_atomic(path, records())
    assert path.read_text() == '{"old": true}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.jsonl"]


def test_nan_is_refused(tmp_path):
    with pytest.raises(ValueError, match="JSON"):
        manifest.write_jsonl_atomic(tmp_path / "m.jsonl", [{"x": float("nan")}])


def test_read_jsonl_skips_a_torn_last_line(tmp_path):
    path = tmp_path / "journal.jsonl"
    path.write_text('{"a": 1}\n\n[1, 2]\n{"b": 2}\n{"c": ')
    assert list(manifest.read_jsonl(path)) == [{"a": 1}, {"b": 2}]
    assert list(manifest.read_jsonl(tmp_path / "absent.jsonl")) == []


def test_manifest_record_has_exactly_the_documented_keys():
    record = manifest.manifest_record("images/a.jpg", "/a.jpg", 4, 3, {}, [], "lrcat", {})
    assert tuple(record) == manifest.MANIFEST_KEYS


def test_state_journal_round_trip(tmp_path):
    state = manifest.ScanState(tmp_path)
    entry = manifest.new_entry("/photos/a.jpg", "photo", key="k1")
    state.open_journal()
    state.append(entry)
    state.append({**entry, "key": "k2"}, sync=False)
    state.close_journal()
    committed, journal = manifest.ScanState(tmp_path).load()
    assert committed == {}
    assert journal["/photos/a.jpg"]["key"] == "k2"
    state.commit({"/photos/a.jpg": entry})
    committed, journal = manifest.ScanState(tmp_path).load()
    assert committed == {"/photos/a.jpg": entry}
    assert journal == {}
    assert not state.journal_path.exists()


def test_missing_state_takes_over_the_manifest(tmp_path):
    line = manifest.manifest_record("images/a.jpg", "/p/a.jpg", 4, 3, {}, [], "lrcat", {})
    manifest.write_jsonl_atomic(tmp_path / manifest.MANIFEST_NAME, [line, {"junk": 1}])
    committed, _ = manifest.ScanState(tmp_path).load()
    assert list(committed) == ["/p/a.jpg"]
    assert committed["/p/a.jpg"]["samples"] == [line]
    assert committed["/p/a.jpg"]["key"] == ""


def test_scan_lock_is_exclusive(tmp_path, monkeypatch):
    monkeypatch.setattr(manifest, "LOCK_WAIT_S", 0.1)
    with manifest.scan_lock(tmp_path):
        with pytest.raises(RuntimeError, match="another scan"):
            with manifest.scan_lock(tmp_path):
                pass
    with manifest.scan_lock(tmp_path):
        pass


def _entry(i: int) -> dict:
    line = manifest.manifest_record(
        f"images/p{i}_0123456789abcdef.jpg",
        f"/photos/2024/p{i}.jpg",
        6000,
        4000,
        {"left": 0.123456, "top": 0.234567, "right": 0.876543, "bottom": 0.912345, "angle": -1.5},
        [[0.1234567, 0.2345678], [0.8765432, 0.2234567], [0.8865432, 0.9123456], [0.13, 0.92]],
        "xmp-sidecar",
        {},
    )
    entry = manifest.new_entry(f"/photos/2024/p{i}.jpg", "photo", key=f"{i:064x}")
    entry["samples"].append(line)
    return entry


def test_entry_store_round_trips_and_hands_out_copies():
    odd = "/photos/caf\udce9.jpg"  # a file name that is not UTF-8 (surrogateescape)
    entries = {e["id"]: e for e in (_entry(1), _entry(2), manifest.new_entry(odd, "photo"))}
    store = manifest.EntryStore(entries)
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
    old = manifest.EntryStore({"a": {"k": 1}, "b": {"k": 1}})
    new = manifest.EntryStore({"b": {"k": 2}, "c": {"k": 2}})
    merged = old.merged(new)
    assert dict(merged) == {"a": {"k": 1}, "b": {"k": 2}, "c": {"k": 2}}
    assert dict(old) == {"a": {"k": 1}, "b": {"k": 1}}  # the inputs stay as they were
    other = manifest.EntryStore()
    other.set_raw("x", merged.raw("b"))
    assert other["x"] == {"k": 2}


def test_entry_store_holds_a_fraction_of_the_dicts_memory():
    import tracemalloc

    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        plain = {e["id"]: e for e in (_entry(i) for i in range(2000))}
        as_dicts = tracemalloc.get_traced_memory()[0] - base
        base = tracemalloc.get_traced_memory()[0]
        store = manifest.EntryStore(plain)
        as_store = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert store == plain
    assert as_store < as_dicts / 3, (as_store, as_dicts)


def test_write_outputs_reads_a_store(tmp_path):
    store = manifest.EntryStore({e["id"]: e for e in (_entry(2), _entry(1))})
    outputs = manifest.write_outputs(tmp_path, store)
    assert outputs.samples_by_origin == {"xmp-sidecar": 2}
    assert outputs.skipped_by_reason == {}
    assert outputs.images == {"p1_0123456789abcdef.jpg", "p2_0123456789abcdef.jpg"}
    lines = list(manifest.read_jsonl(tmp_path / manifest.MANIFEST_NAME))
    assert [line["source"] for line in lines] == ["/photos/2024/p1.jpg", "/photos/2024/p2.jpg"]


def test_commit_writes_a_store_as_it_is_held(tmp_path):
    odd = "/photos/caf\udce9.jpg"
    entries = {e["id"]: e for e in (_entry(2), _entry(1), manifest.new_entry(odd, "photo"))}
    store = manifest.EntryStore(entries)
    state = manifest.ScanState(tmp_path)
    state.commit(store)
    lines = state.state_path.read_bytes().splitlines()
    assert lines == [store.raw(k) for k in sorted(store)]  # sorted, not decoded again
    committed, journal = manifest.ScanState(tmp_path).load()
    assert committed == entries
    assert journal == {}


def test_scan_lock_waits_for_a_killed_scans_workers(tmp_path, monkeypatch):
    """After kill -9 of a scan, its forked workers hold the lock until they notice."""
    import subprocess
    import sys
    import time

    (tmp_path / manifest.STATE_DIR).mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time; f = open(sys.argv[1], 'a'); "
            "fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(0.6)",
            str(tmp_path / manifest.STATE_DIR / manifest.LOCK_NAME),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    start = time.monotonic()
    with manifest.scan_lock(tmp_path):
        waited = time.monotonic() - start
    holder.wait()
    assert waited < manifest.LOCK_WAIT_S
    monkeypatch.setattr(manifest, "LOCK_WAIT_S", 0.2)
    with manifest.scan_lock(tmp_path), pytest.raises(RuntimeError, match="another scan"):
        with manifest.scan_lock(tmp_path):
            pass
