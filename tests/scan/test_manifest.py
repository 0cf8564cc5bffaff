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


def test_scan_lock_is_exclusive(tmp_path):
    with manifest.scan_lock(tmp_path):
        with pytest.raises(RuntimeError, match="another scan"):
            with manifest.scan_lock(tmp_path):
                pass
    with manifest.scan_lock(tmp_path):
        pass
