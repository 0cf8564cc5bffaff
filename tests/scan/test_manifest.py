from cropperhead.data.manifest import MANIFEST_NAME
from cropperhead.scan import manifest
from cropperhead.scan.jsonl import read_jsonl
from cropperhead.scan.state import EntryStore
from tests.scan.library import state_entry


def test_manifest_record_has_exactly_the_documented_keys():
    record = manifest.manifest_record("images/a.jpg", "/a.jpg", 4, 3, {}, [], "lrcat", {})
    assert tuple(record) == manifest.MANIFEST_KEYS


def test_write_outputs_reads_a_store(tmp_path):
    store = EntryStore({e["id"]: e for e in (state_entry(2), state_entry(1))})
    outputs = manifest.write_outputs(tmp_path, store)
    assert outputs.samples_by_origin == {"xmp-sidecar": 2}
    assert outputs.skipped_by_reason == {}
    assert outputs.images == {"p1_0123456789abcdef.jpg", "p2_0123456789abcdef.jpg"}
    lines = list(read_jsonl(tmp_path / MANIFEST_NAME))
    assert [line["source"] for line in lines] == ["/photos/2024/p1.jpg", "/photos/2024/p2.jpg"]
