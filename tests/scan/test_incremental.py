"""Incremental scans: what is decoded again, what stays, --prune, interrupted scans."""

from __future__ import annotations

import os

import pytest

from cropperhead import imaging
from cropperhead.geometry import Crop
from cropperhead.scan import scan_library
from tests.scan.library import (
    PLAIN,
    TURNED6,
    H,
    W,
    by_source,
    check_label,
    make_photo,
    read_lines,
    xmp_packet,
)


@pytest.fixture
def decodes(monkeypatch):
    """Count (and optionally interrupt) decodes: workers=1 decodes in this process."""
    calls: list[str] = []
    real = imaging.read_stored_image
    state = {"interrupt_at": None}

    def counting(path, min_long_side):
        if state["interrupt_at"] is not None and len(calls) == state["interrupt_at"]:
            raise KeyboardInterrupt
        calls.append(os.path.basename(path))
        return real(path, min_long_side)

    monkeypatch.setattr(imaging, "read_stored_image", counting)
    counting.calls = calls
    counting.state = state
    return counting


def scan(sources, out, **kw):
    kw.setdefault("workers", 1)
    kw.setdefault("progress", False)
    return scan_library(sources if isinstance(sources, list) else [sources], out, **kw)


def library(root, n=4):
    for i in range(n):
        make_photo(root / f"p{i}.jpg")
        (root / f"p{i}.xmp").write_bytes(xmp_packet(PLAIN))
    return root


def samples_of(out):
    return by_source(read_lines(out / "manifest.jsonl"))


def images_of(out):
    return sorted(p.name for p in (out / "images").iterdir() if not p.name.startswith("."))


def test_rescan_decodes_nothing_and_writes_the_same_files(tmp_path, decodes):
    lib, out = library(tmp_path / "lib"), tmp_path / "out"
    make_photo(lib / "plain.jpg")
    (lib / "bad.jpg").write_bytes(b"\xff\xd8junk")
    (lib / "bad.xmp").write_bytes(xmp_packet(PLAIN))
    first = scan(lib, out)
    assert (first.new, first.decoded) == (6, 5)
    manifest = (out / "manifest.jsonl").read_bytes()
    skipped = (out / "skipped.jsonl").read_bytes()
    names = images_of(out)
    decodes.calls.clear()
    second = scan(lib, out)
    assert decodes.calls == []
    assert (second.new, second.updated, second.unchanged, second.decoded) == (0, 0, 6, 0)
    assert (out / "manifest.jsonl").read_bytes() == manifest
    assert (out / "skipped.jsonl").read_bytes() == skipped
    assert images_of(out) == names
    assert not (out / ".scan" / "journal.jsonl").exists()


def test_changed_metadata_and_files_are_labelled_again(tmp_path, decodes):
    lib, out = library(tmp_path / "lib"), tmp_path / "out"
    scan(lib, out)
    old_image = samples_of(out)["p0.jpg"][0]["image"]
    # Edit one sidecar, touch another photo, add a sidecar to a third.
    (lib / "p0.xmp").write_bytes(xmp_packet(TURNED6))
    stat = (lib / "p1.jpg").stat()
    os.utime(lib / "p1.jpg", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000))
    make_photo(lib / "new.jpg")
    decodes.calls.clear()
    summary = scan(lib, out)
    assert sorted(decodes.calls) == ["p0.jpg", "p1.jpg"]
    assert (summary.new, summary.updated, summary.unchanged) == (1, 2, 2)
    samples = samples_of(out)
    check_label(samples["p0.jpg"][0], TURNED6, W, H, 1)
    # The relabelled photo got a new image file; the old one was collected.
    assert samples["p0.jpg"][0]["image"] != old_image
    assert not (out / old_image).exists()
    assert len(images_of(out)) == 4
    # The sidecar now says "already applied": the sample goes, its image too.
    (lib / "p0.xmp").write_bytes(xmp_packet(TURNED6, applied=True))
    scan(lib, out)
    assert "p0.jpg" not in samples_of(out)
    assert len(images_of(out)) == 3


def test_scan_settings_are_part_of_the_key(tmp_path, decodes):
    lib, out = library(tmp_path / "lib", n=2), tmp_path / "out"
    extra = {"crs:Exposure2012": "+1.00"}
    (lib / "p0.xmp").write_bytes(xmp_packet(PLAIN, extra=extra))
    scan(lib, out)
    decodes.calls.clear()
    scan(lib, out, size=32)
    assert len(decodes.calls) == 2
    decodes.calls.clear()
    scan(lib, out, size=32, fields=["crs:Exposure2012"])
    assert len(decodes.calls) == 2
    assert samples_of(out)["p0.jpg"][0]["extra"] == extra
    decodes.calls.clear()
    scan(lib, out, size=32, fields=["crs:Exposure2012"])
    assert decodes.calls == []


def test_other_folders_add_and_prune_drops(tmp_path, decodes):
    a, b, out = library(tmp_path / "a", n=3), library(tmp_path / "b", n=2), tmp_path / "out"
    scan(a, out)
    decodes.calls.clear()
    summary = scan(b, out)
    assert len(decodes.calls) == 2
    assert (summary.new, summary.unchanged) == (2, 0)
    sources = {s["source"] for s in read_lines(out / "manifest.jsonl")}
    assert len(sources) == 5
    # A photo deleted from a: without --prune it stays, with --prune it goes.
    gone = samples_of(out)["p1.jpg"]
    (tmp_path / "a" / "p1.jpg").unlink()
    scan(b, out)
    assert len(read_lines(out / "manifest.jsonl")) == 5
    summary = scan(b, out, prune=True)
    assert summary.pruned == 1
    lines = read_lines(out / "manifest.jsonl")
    assert len(lines) == 4
    assert all(line["source"] != str((tmp_path / "a" / "p1.jpg").resolve()) for line in lines)
    assert not any((out / s["image"]).exists() for s in gone if s["source"].startswith(str(a)))
    assert len(images_of(out)) == 4


def test_skip_records_follow_their_folder(tmp_path, decodes):
    lib, out = tmp_path / "lib", tmp_path / "out"
    lib.mkdir()
    (lib / "IMG_1.xmp").write_bytes(xmp_packet(PLAIN))
    scan(lib, out)
    assert [r["reason"] for r in read_lines(out / "skipped.jsonl")] == ["missing-file"]
    make_photo(lib / "IMG_1.jpg")
    scan(lib, out)
    assert read_lines(out / "skipped.jsonl") == []
    assert len(read_lines(out / "manifest.jsonl")) == 1


def test_images_deleted_by_hand_are_written_again(tmp_path, decodes):
    lib, out = library(tmp_path / "lib", n=2), tmp_path / "out"
    scan(lib, out)
    for name in images_of(out):
        (out / "images" / name).unlink()
    decodes.calls.clear()
    scan(lib, out)
    assert len(decodes.calls) == 2
    assert all((out / s["image"]).is_file() for s in read_lines(out / "manifest.jsonl"))


def test_interrupted_scan_keeps_the_manifest_and_resumes(tmp_path, decodes):
    lib, out = library(tmp_path / "lib", n=3), tmp_path / "out"
    scan(lib, out)
    manifest = (out / "manifest.jsonl").read_bytes()
    for i in range(3, 12):
        make_photo(lib / f"p{i}.jpg")
        (lib / f"p{i}.xmp").write_bytes(xmp_packet(Crop(0.2, 0.2, 0.8, 0.8, 0)))
    decodes.calls.clear()
    decodes.state["interrupt_at"] = 5  # Ctrl-C while decoding the sixth new photo
    with pytest.raises(KeyboardInterrupt):
        scan(lib, out)
    assert (out / "manifest.jsonl").read_bytes() == manifest
    journal = read_lines(out / ".scan" / "journal.jsonl")
    assert len(journal) == 5
    decodes.state["interrupt_at"] = None
    decodes.calls.clear()
    summary = scan(lib, out)
    assert len(decodes.calls) == 4
    assert (summary.new, summary.resumed, summary.unchanged) == (9, 5, 3)
    assert len(read_lines(out / "manifest.jsonl")) == 12
    assert len(images_of(out)) == 12
    assert not (out / ".scan" / "journal.jsonl").exists()


def test_lost_state_keeps_the_manifest_samples(tmp_path, decodes):
    a, b, out = library(tmp_path / "a", n=2), library(tmp_path / "b", n=1), tmp_path / "out"
    scan(a, out)
    (out / ".scan" / "state.jsonl").unlink()
    scan(b, out)
    assert len(read_lines(out / "manifest.jsonl")) == 3
    assert len(images_of(out)) == 3


def test_garbage_collection_touches_only_our_files(tmp_path, decodes):
    """Only images a scan's state names (or that carry its comment) and our temporaries go.

    A scan once deleted every ``*_<16 hex>.jpg`` in images/, the user's
    ``IMG_20230815_1234567890123456.jpg`` included.
    """
    from PIL import Image

    from cropperhead.files import temp_path

    lib, out = library(tmp_path / "lib", n=1), tmp_path / "out"
    scan(lib, out)
    (old_image,) = images_of(out)
    # A new crop: the photo gets a new image, the old one is stale and named by the state.
    (lib / "p0.xmp").write_bytes(xmp_packet(TURNED6))
    # A worker's image whose result never reached the journal: ours by its JPEG comment.
    orphan = out / "images" / "p9_00000000000000aa.jpg"
    Image.new("RGB", (8, 8)).save(orphan, comment=imaging.SCAN_COMMENT)
    # Our temporaries from a dead process (PID 0 is never a user process).
    dead = [
        temp_path(out / "images" / "p9_0123456789abcdef.jpg"),
        temp_path(out / "manifest.jsonl"),
    ]
    for path in dead:
        path = path.with_name(path.name.replace(f"-{os.getpid()}-", "-0-"))
        path.write_bytes(b"partial")
    users = [
        out / "images" / "holiday.jpg",
        out / "images" / "IMG_20230815_1234567890123456.jpg",
        out / "images" / "notes.txt",
        out / "keep.tmp",
        out / ".manifest.jsonl.x1y2.tmp",
    ]
    for path in users:
        path.write_bytes(b"mine")
    scan(lib, out)
    assert old_image not in images_of(out)
    assert not orphan.exists()
    assert not [p for p in out.rglob("*.tmp") if "cropperhead-" in p.name]
    assert all(path.read_bytes() == b"mine" for path in users)
    assert len(read_lines(out / "manifest.jsonl")) == 1


def test_a_folder_that_is_not_a_data_set_is_refused(tmp_path, decodes):
    from cropperhead.scan import ScanError
    from tests.helpers import assert_untouched, plant_user_files

    lib, out = library(tmp_path / "lib", n=1), tmp_path / "out"
    planted = plant_user_files(out)
    with pytest.raises(ScanError, match="not a data set"):
        scan(lib, out)
    assert_untouched(planted)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        {p.relative_to(out).parts[0] for p in planted}
    )
    # An empty folder (even with empty folders in it) is fine.
    (tmp_path / "empty" / "images").mkdir(parents=True)
    assert scan(lib, tmp_path / "empty").samples == 1


def test_a_truncated_image_is_written_again(tmp_path, decodes):
    lib, out = library(tmp_path / "lib", n=2), tmp_path / "out"
    scan(lib, out)
    name = images_of(out)[0]
    data = (out / "images" / name).read_bytes()
    (out / "images" / name).write_bytes(data[: len(data) // 2])
    decodes.calls.clear()
    scan(lib, out)
    assert len(decodes.calls) == 1
    assert (out / "images" / name).read_bytes() == data


def test_a_crashing_decoder_costs_one_photo(tmp_path, monkeypatch):
    from functools import partial

    from cropperhead.scan import pool
    from tests.scan.hooked_scan import crash_on

    lib, out = library(tmp_path / "lib", n=12), tmp_path / "out"
    monkeypatch.setattr(pool, "process_photo", partial(crash_on, "p3.jpg"))
    summary = scan(lib, out, workers=2)
    assert summary.samples == 11
    (record,) = read_lines(out / "skipped.jsonl")
    assert record["reason"] == "unreadable"
    assert record["source"].endswith("p3.jpg")
    assert "crashed" in record["detail"]
    # The next scan tries the photo again (here in-process, where the hook is inert).
    monkeypatch.undo()
    again = scan(lib, out, workers=2)
    assert (again.updated, again.unchanged, again.samples, again.skipped) == (1, 11, 12, 0)


def test_scan_changes_nothing_but_its_data_set(tmp_path, decodes):
    """Photos, sidecars, and folders beside --out come out byte for byte as they were."""
    from tests.helpers import assert_untouched, plant_user_files

    lib, out = library(tmp_path / "lib", n=3), tmp_path / "out"
    (lib / "p0.jpg.xmp").write_bytes(xmp_packet(TURNED6))  # darktable-style name too
    planted = {p: p.read_bytes() for p in lib.rglob("*") if p.is_file()}
    planted |= plant_user_files(tmp_path / "library") | plant_user_files(tmp_path, ["notes.txt"])
    scan(lib, out)
    (lib / "p1.xmp").write_bytes(xmp_packet(TURNED6))
    planted[lib / "p1.xmp"] = (lib / "p1.xmp").read_bytes()
    scan(lib, out, prune=True)
    assert_untouched(planted)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lib", "library", "notes.txt", "out"]


def test_a_folder_that_cannot_be_listed_gets_a_skip_record(tmp_path, decodes, monkeypatch):
    lib, out = library(tmp_path / "lib", n=2), tmp_path / "out"
    (lib / "locked").mkdir()
    real_scandir = os.scandir

    def scandir(path):
        if os.path.basename(path) == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    summary = scan(lib, out)
    assert summary.samples == 2
    (record,) = read_lines(out / "skipped.jsonl")
    assert record["source"] == str(lib / "locked")
    assert record["reason"] == "unreadable"
    assert "Permission denied" in record["detail"]
