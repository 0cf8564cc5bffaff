import json

import pytest

from cropperhead.scan import jsonl


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "manifest.jsonl"
    assert jsonl.write_jsonl_atomic(path, [{"a": 1}, {"b": "é"}]) == 2
    assert [json.loads(line) for line in path.read_text().splitlines()] == [{"a": 1}, {"b": "é"}]
    assert jsonl.write_jsonl_atomic(path, [{"c": 3}]) == 1
    assert path.read_text() == '{"c": 3}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.jsonl"]


def test_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "manifest.jsonl"
    jsonl.write_jsonl_atomic(path, [{"old": True}])

    def records():
        yield {"new": 1}
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        jsonl.write_jsonl_atomic(path, records())
    assert path.read_text() == '{"old": true}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.jsonl"]


def test_nan_is_refused(tmp_path):
    with pytest.raises(ValueError, match="JSON"):
        jsonl.write_jsonl_atomic(tmp_path / "m.jsonl", [{"x": float("nan")}])


def test_read_jsonl_skips_a_torn_last_line(tmp_path):
    path = tmp_path / "journal.jsonl"
    path.write_text('{"a": 1}\n\n[1, 2]\n{"b": 2}\n{"c": ')
    assert list(jsonl.read_jsonl(path)) == [{"a": 1}, {"b": 2}]
    assert list(jsonl.read_jsonl(tmp_path / "absent.jsonl")) == []
