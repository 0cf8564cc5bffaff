"""`cropperhead scan` as a user runs it: help, errors, summary, a real kill -9."""

from __future__ import annotations

import os
import signal

import pytest

from cropperhead import imaging
from cropperhead.cli import main
from cropperhead.geometry import Crop
from cropperhead.scan import scan_library
from tests.scan.library import PLAIN, make_photo, read_lines, run_cli, snapshot, xmp_packet


def test_help_documents_every_option_with_examples():
    result = run_cli("scan", "--help")
    assert result.returncode == 0
    text = result.stdout
    for option in (
        "--out",
        "--size",
        "--catalog",
        "--include-uncropped",
        "--field",
        "--prune",
        "--workers",
        "SOURCE",
    ):
        assert option in text
    assert text.count("Example:") >= 7
    assert "examples:" in text
    assert "cropperhead scan --catalog" in text
    assert "scan" in run_cli("--help").stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["scan", "SRC"], "--out"),
        (["scan", "MISSING", "--out", "OUT"], "does not exist"),
        (["scan", "SRC", "--out", "OUT", "--size", "0"], "--size"),
        (["scan", "SRC", "--out", "OUT", "--size", "big"], "--size"),
        (["scan", "SRC", "--out", "OUT", "--field", "bogus:Thing"], "bogus"),
        (["scan", "SRC", "--out", "OUT", "--field", "Exposure"], "PREFIX:Name"),
        (["scan", "SRC", "--out", "FILE"], "not a folder"),
        (["scan", "SRC", "--out", "FILE/sub"], "not a writable folder"),
        (["scan", "--out", "OUT", "--catalog", "FILE"], "not a Lightroom catalog"),
        (["scan", "--out", "OUT", "--catalog", "MISSING.lrcat"], "does not exist"),
        (["scan", "--out", "OUT", "--catalog", "FIFO.lrcat"], "catalog is a FIFO"),
        (["scan", "--out", "OUT", "--catalog", "SRC"], "catalog is a folder"),
        (["scan", "--out", "OUT"], "nothing to scan"),
        (["scan", "SRC", "--out", "OUT", "--workers", "0"], "--workers"),
        (["scan", "SRC", "--out", "SRC"], "SOURCE folder itself"),
    ],
)
def test_wrong_command_lines_fail_with_one_clear_line(tmp_path, args, message):
    src = tmp_path / "src"
    make_photo(src / "a.jpg")
    (tmp_path / "file.txt").write_text("not a folder, not a catalog")
    os.mkfifo(tmp_path / "fifo.lrcat")  # opening it for reading would wait forever
    names = {
        "SRC": str(src),
        "OUT": str(tmp_path / "out"),
        "MISSING": str(tmp_path / "missing"),
        "MISSING.lrcat": str(tmp_path / "missing.lrcat"),
        "FIFO.lrcat": str(tmp_path / "fifo.lrcat"),
        "FILE": str(tmp_path / "file.txt"),
        "FILE/sub": str(tmp_path / "file.txt" / "sub"),
    }
    result = run_cli(*[names.get(a, a) for a in args])
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, result.stderr
    assert message in errors[0], result.stderr
    assert not (tmp_path / "out" / "manifest.jsonl").exists()


def test_scan_prints_a_summary_and_bad_files_keep_exit_zero(tmp_path):
    lib, out = tmp_path / "lib", tmp_path / "out"
    make_photo(lib / "a.jpg", xmp=xmp_packet(PLAIN))
    make_photo(lib / "b.jpg", xmp=xmp_packet(PLAIN, applied=True))
    (lib / "c.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    (lib / "c.xmp").write_bytes(xmp_packet(PLAIN))
    (lib / "d.jpg").write_bytes(b"")
    (lib / "d.xmp").write_bytes(b"<<<")
    result = run_cli("scan", str(lib), "--out", str(out), "--workers", "1")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "samples: 1 (xmp-embedded 1)" in result.stdout
    assert "crop-already-applied 1" in result.stdout
    assert "unreadable 1" in result.stdout
    assert "bad-metadata 1" in result.stdout
    assert "4 new, 0 updated, 0 unchanged, 0 pruned" in result.stdout
    again = run_cli("scan", str(lib), "--out", str(out))
    assert "0 new, 0 updated, 4 unchanged, 0 pruned" in again.stdout


def test_main_in_process(tmp_path, capsys):
    lib, out = tmp_path / "lib", tmp_path / "out"
    make_photo(lib / "a.jpg", xmp=xmp_packet(PLAIN))
    assert main(["scan", str(lib), "--out", str(out), "--workers", "1", "--no-progress"]) == 0
    assert "samples: 1" in capsys.readouterr().out
    assert main(["scan", str(lib / "nope"), "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_kill_9_mid_scan_then_resume(tmp_path, monkeypatch):
    """A real SIGKILL in the middle of a pooled scan; the rerun finishes the job."""
    lib, out = tmp_path / "lib", tmp_path / "out"
    for i in range(10):
        make_photo(lib / f"old{i:02d}.jpg", xmp=xmp_packet(PLAIN))
    first = run_cli("scan", str(lib), "--out", str(out), "--workers", "1")
    assert first.returncode == 0, first.stderr
    manifest = (out / "manifest.jsonl").read_bytes()
    state = (out / ".scan" / "state.jsonl").read_bytes()
    for i in range(30):
        make_photo(lib / f"new{i:02d}.jpg", xmp=xmp_packet(Crop(0.2, 0.1, 0.9, 0.8, 0)))
    before = snapshot(lib)
    killed = run_cli("scan", str(lib), "--out", str(out), "--workers", "2", kill_after=12)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    # The previous manifest is intact, and the journal holds the finished photos.
    assert (out / "manifest.jsonl").read_bytes() == manifest
    assert (out / ".scan" / "state.jsonl").read_bytes() == state
    journal = read_lines(out / ".scan" / "journal.jsonl")
    assert len(journal) >= 12
    done = {e["id"] for e in journal}
    # The rerun (in this process, counting decodes) decodes only the rest.
    calls = []
    real = imaging.read_stored_image

    def counting(path, min_long_side):
        calls.append(os.path.basename(path))
        return real(path, min_long_side)

    monkeypatch.setattr(imaging, "read_stored_image", counting)
    summary = scan_library([lib], out, workers=1, progress=False)
    assert len(calls) == 30 - len(done)
    assert not {str((lib / c).resolve()) for c in calls} & done
    assert summary.samples == 40
    assert summary.new == 30
    lines = read_lines(out / "manifest.jsonl")
    assert len(lines) == 40
    assert all((out / line["image"]).is_file() for line in lines)
    assert len(list((out / "images").glob("*.jpg"))) == 40
    assert snapshot(lib) == before


def test_catalog_alone_needs_no_source(tmp_path):
    from tests.metadata.lrcat_builder import CatalogBuilder, develop_text

    photo = make_photo(tmp_path / "photos" / "IMG_0001.jpg")
    with CatalogBuilder(tmp_path / "Lightroom Catalog.lrcat") as cat:
        cat.add_photo(str(photo), width=64, height=48, develop=develop_text(crop=PLAIN))
        cat.add_photo(str(tmp_path / "gone.jpg"), width=64, height=48)
    out = tmp_path / "out"
    result = run_cli("scan", "--catalog", str(cat.path), "--out", str(out), "--workers", "1")
    assert result.returncode == 0, result.stderr
    assert "samples: 1 (lrcat 1)" in result.stdout
    assert "missing-file 1" in result.stdout
    (line,) = read_lines(out / "manifest.jsonl")
    assert line["origin"] == "lrcat"
