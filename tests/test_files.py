"""cropperhead.files: regular files only, atomic writes, provable temporaries, outputs."""

import os
import stat
import time
from pathlib import Path

import pytest

from cropperhead import files


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_only_regular_files_are_opened_and_a_fifo_never_blocks(tmp_path):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    with pytest.raises(files.NotRegularFileError, match="FIFO"):
        files.open_regular(fifo)  # a plain open() would wait for a writer forever
    with pytest.raises(files.NotRegularFileError, match="folder"):
        files.read_regular(tmp_path)
    with pytest.raises(files.NotRegularFileError, match="device"):
        files.read_regular("/dev/zero", 10)
    (tmp_path / "a").write_bytes(b"12345")
    assert files.read_regular(tmp_path / "a") == b"12345"
    with pytest.raises(ValueError, match="larger than 4 bytes"):
        files.read_regular(tmp_path / "a", 4)


def test_atomic_write_is_all_or_nothing_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "m.jsonl"
    files.atomic_write(path, "old\n")

    def half_write():
        with files.atomic_open(path) as fh:
            fh.write("half")
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        half_write()
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.jsonl"]


def test_new_files_get_the_umask_mode_and_replaced_ones_keep_theirs(tmp_path, umask_022):
    path = tmp_path / "new.txt"
    files.atomic_write(path, "x")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # mkstemp would give 0o600
    path.chmod(0o640)
    files.atomic_write(path, "y")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_scan_outputs_and_reports_follow_the_umask(tmp_path, umask_022):
    from cropperhead.scan import scan_library
    from tests.scan.library import PLAIN, make_photo, xmp_packet

    lib = tmp_path / "lib"
    make_photo(lib / "p.jpg")
    (lib / "p.xmp").write_bytes(xmp_packet(PLAIN))
    scan_library([lib], tmp_path / "ds", workers=1, progress=False)
    for name in ("manifest.jsonl", "skipped.jsonl"):
        assert stat.S_IMODE((tmp_path / "ds" / name).stat().st_mode) == 0o644, name
    (image,) = (tmp_path / "ds" / "images").iterdir()
    assert stat.S_IMODE(image.stat().st_mode) == 0o644


def test_atomic_open_replaces_a_link_instead_of_writing_through_it(tmp_path):
    target = tmp_path / "elsewhere.txt"
    target.write_text("theirs")
    (tmp_path / "out.txt").symlink_to(target)
    files.atomic_write(tmp_path / "out.txt", "ours")
    assert target.read_text() == "theirs"
    assert not (tmp_path / "out.txt").is_symlink()


def test_only_our_stale_temporaries_are_removed(tmp_path):
    mine = files.temp_path(tmp_path / "a.xmp")  # this process: alive, kept
    mine.write_bytes(b"")
    dead = tmp_path / ".a.xmp.cropperhead-0-0123456789ab.tmp"
    dead.write_bytes(b"")
    old = files.temp_path(tmp_path / "b.xmp")
    old.write_bytes(b"")
    day_ago = time.time() - files.STALE_TEMP_S - 60
    os.utime(old, (day_ago, day_ago))
    users = [tmp_path / ".a.xmp.0123456789ab.tmp", tmp_path / "a.xmp.tmp", tmp_path / "a.xmp"]
    for path in users:
        path.write_bytes(b"mine")
    link = tmp_path / ".c.xmp.cropperhead-0-0123456789ab.tmp"
    link.symlink_to(tmp_path / "a.xmp")
    assert files.remove_stale_temporaries(tmp_path, {"b.xmp"}) == 1
    assert files.remove_stale_temporaries(tmp_path) == 1
    assert mine.exists()
    assert not dead.exists()
    assert not old.exists()
    assert link.is_symlink()
    assert all(p.read_bytes() == b"mine" for p in users)


def test_backups_never_overwrite(tmp_path):
    path = tmp_path / "IMG.xmp"
    (tmp_path / "IMG.xmp.bak").write_bytes(b"first")
    assert files.write_backup(path, b"second") == tmp_path / "IMG.xmp.bak.1"
    assert files.write_backup(path, b"second") == tmp_path / "IMG.xmp.bak.1"  # reused
    assert files.write_backup(path, b"third") == tmp_path / "IMG.xmp.bak.2"
    assert (tmp_path / "IMG.xmp.bak").read_bytes() == b"first"


def test_check_output_file(tmp_path):
    photo = tmp_path / "IMG.jpg"
    photo.write_bytes(b"photo")
    ours = tmp_path / "p.jsonl"
    ours.write_text("ours")

    def is_ours(path):
        return path.read_text() == "ours"

    check = files.check_output_file
    check(tmp_path / "new.jsonl", what="x", is_ours=is_ours)
    check(ours, what="x", is_ours=is_ours)
    with pytest.raises(files.OutputRefusedError, match="not a x CropperHead wrote"):
        check(photo, what="x", is_ours=is_ours)
    check(photo, what="x", is_ours=is_ours, overwrite=True)
    link = tmp_path / "link.jsonl"
    link.symlink_to(photo)
    for path in (photo, link, tmp_path / "." / "IMG.jpg"):
        with pytest.raises(files.OutputRefusedError, match="one of the inputs"):
            check(path, what="x", is_ours=is_ours, overwrite=True, inputs=[photo])
    with pytest.raises(files.OutputRefusedError, match="folder"):
        check(tmp_path, what="x", is_ours=is_ours, overwrite=True)
    with pytest.raises(files.OutputRefusedError, match="device"):
        check(Path("/dev/null"), what="x", is_ours=is_ours, overwrite=True)


def test_folder_markers(tmp_path):
    assert not files.is_marked(tmp_path, "demo")
    files.mark_folder(tmp_path, "demo")
    assert files.is_marked(tmp_path, "demo")
    assert not files.is_marked(tmp_path, "dataset")
