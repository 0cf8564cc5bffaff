"""XMP sidecar files: finding, reading, writing with backups, exiftool (metadata/sidecar.py)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from cropperhead.geometry import Crop
from cropperhead.metadata.sidecar import (
    default_sidecar_path,
    read_capped,
    read_sidecar,
    sidecar_candidates,
    write_sidecar_crop,
)
from cropperhead.metadata.types import BAD_METADATA, UNREADABLE, SkipError
from cropperhead.metadata.xmp_edit import merge_crop_into_xmp
from tests.metadata.xmp_builders import (
    BILLION_LAUGHS,
    CROP_NAMES,
    MERGE_FIXTURES,
    crop_tuple,
    make_packet,
    tiff_values,
)

# --------------------------------------------------------------------------- sidecar files


def test_read_sidecar_errors(tmp_path: Path) -> None:
    with pytest.raises(SkipError) as info:
        read_sidecar(tmp_path / "missing.xmp")
    assert info.value.reason == UNREADABLE
    with pytest.raises(SkipError) as info:
        read_sidecar(tmp_path)  # a directory
    assert info.value.reason == UNREADABLE
    bad = tmp_path / "bad.xmp"
    bad.write_bytes(BILLION_LAUGHS)
    with pytest.raises(SkipError) as info:
        read_sidecar(bad)
    assert info.value.reason == BAD_METADATA


def _case_sensitive(folder: Path) -> bool:
    (folder / "probe").write_bytes(b"")
    sensitive = not (folder / "PROBE").exists()
    (folder / "probe").unlink()
    return sensitive


def test_sidecar_candidates_precedence(tmp_path: Path) -> None:
    photo = tmp_path / "IMG_1.CR2"
    photo.write_bytes(b"raw")
    assert sidecar_candidates(photo) == []
    (tmp_path / "IMG_1.CR2.xmp").write_bytes(b"<x/>")
    assert sidecar_candidates(photo) == [tmp_path / "IMG_1.CR2.xmp"]
    for name in ("IMG_1.xmp", "img_1.xmp", "IMG_10.xmp", "IMG_1.jpg.xmp", "IMG_1.xmp.bak"):
        (tmp_path / name).write_bytes(b"<x/>")
    assert [p.name for p in sidecar_candidates(photo)][:2] == ["IMG_1.xmp", "IMG_1.CR2.xmp"]
    assert default_sidecar_path(photo) == tmp_path / "IMG_1.xmp"
    assert default_sidecar_path(tmp_path / "README") == tmp_path / "README.xmp"
    if not _case_sensitive(tmp_path):
        return
    assert [p.name for p in sidecar_candidates(photo)] == ["IMG_1.xmp", "IMG_1.CR2.xmp"]
    (tmp_path / "IMG_1.XMP").write_bytes(b"<x/>")
    (tmp_path / "IMG_1.CR2.Xmp").write_bytes(b"<x/>")
    assert [p.name for p in sidecar_candidates(photo)] == [
        "IMG_1.xmp",
        "IMG_1.XMP",
        "IMG_1.CR2.xmp",
        "IMG_1.CR2.Xmp",
    ]
    (tmp_path / "IMG_1.xmp").unlink()
    assert sidecar_candidates(photo)[0] == tmp_path / "IMG_1.XMP"


def test_sidecar_candidates_of_missing_folder(tmp_path: Path) -> None:
    assert sidecar_candidates(tmp_path / "nope" / "IMG_1.jpg") == []


# --------------------------------------------------------------------------- writing


def test_write_sidecar_new_file(tmp_path: Path) -> None:
    path = tmp_path / "IMG_1.xmp"
    crop = Crop(0.1, 0.2, 0.9, 0.8, 2.0)
    assert write_sidecar_crop(path, crop) is None
    got = read_sidecar(path)
    assert crop_tuple(got.crop) == pytest.approx(crop_tuple(crop))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["IMG_1.xmp"]  # no temp files left
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_write_sidecar_backups(tmp_path: Path) -> None:
    path = tmp_path / "IMG_1.xmp"
    original = make_packet({"HasSettings": "True", "Exposure2012": "+1.00"})
    path.write_bytes(original)
    path.chmod(0o640)
    first, second = Crop(0.1, 0.1, 0.9, 0.9, 0), Crop(0.2, 0.2, 0.8, 0.8, 1)
    bak = write_sidecar_crop(path, first)
    assert bak == tmp_path / "IMG_1.xmp.bak"
    assert bak.read_bytes() == original
    assert path.stat().st_mode & 0o777 == 0o640
    after_first = path.read_bytes()
    # the same crop again: nothing to change, no new backup
    assert write_sidecar_crop(path, first) is None
    assert path.read_bytes() == after_first
    # a new crop: the older backup is never overwritten
    bak1 = write_sidecar_crop(path, second)
    assert bak1 == tmp_path / "IMG_1.xmp.bak.1"
    assert bak1.read_bytes() == after_first
    assert bak.read_bytes() == original
    # the newest backup already holds the current bytes: reuse it
    path.write_bytes(after_first)
    assert write_sidecar_crop(path, second) == bak1
    assert not (tmp_path / "IMG_1.xmp.bak.2").exists()
    assert write_sidecar_crop(path, first, backup=False) is None
    assert crop_tuple(read_sidecar(path).crop) == pytest.approx(crop_tuple(first))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "IMG_1.xmp",
        "IMG_1.xmp.bak",
        "IMG_1.xmp.bak.1",
    ]


def test_write_sidecar_refuses_bad_existing(tmp_path: Path) -> None:
    path = tmp_path / "IMG_1.xmp"
    path.write_bytes(BILLION_LAUGHS)
    with pytest.raises(ValueError, match="cannot be edited"):
        write_sidecar_crop(path, Crop(0.1, 0.1, 0.9, 0.9, 0))
    assert path.read_bytes() == BILLION_LAUGHS
    assert sorted(p.name for p in tmp_path.iterdir()) == ["IMG_1.xmp"]


def test_write_sidecar_failure_keeps_original(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "IMG_1.xmp"
    original = make_packet({"HasCrop": "False"})
    path.write_bytes(original)

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk on fire"):
        write_sidecar_crop(path, Crop(0.1, 0.1, 0.9, 0.9, 0), backup=False)
    assert path.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["IMG_1.xmp"]


def test_write_sidecar_through_symlink(tmp_path: Path) -> None:
    target = tmp_path / "real.xmp"
    target.write_bytes(make_packet({"HasCrop": "False"}))
    link = tmp_path / "IMG_1.xmp"
    link.symlink_to(target)
    write_sidecar_crop(link, Crop(0.1, 0.1, 0.9, 0.9, 0), backup=False)
    assert link.is_symlink()
    assert read_sidecar(target).has_crop


def test_write_warns_about_already_applied(tmp_path: Path, caplog) -> None:
    path = tmp_path / "IMG_1.xmp"
    path.write_bytes(make_packet({"HasCrop": "True", "AlreadyApplied": "True"}))
    with caplog.at_level(logging.WARNING, logger="cropperhead.metadata.xmp"):
        write_sidecar_crop(path, Crop(0.1, 0.1, 0.9, 0.9, 0), backup=False)
    assert any("AlreadyApplied" in r.getMessage() for r in caplog.records)
    assert read_sidecar(path).already_applied  # left as it was


# --------------------------------------------------------------------------- exiftool

EXIFTOOL = shutil.which("exiftool")


def _exiftool(path: Path) -> dict:
    out = subprocess.run(
        [EXIFTOOL, "-j", "-n", "-G1", "-a", "-XMP:all", str(path)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    record = json.loads(out.stdout)[0]
    record.pop("SourceFile")
    return record


@pytest.mark.skipif(EXIFTOOL is None, reason="exiftool is not installed")
@pytest.mark.parametrize("name", MERGE_FIXTURES + [None])
def test_exiftool_reads_what_we_write(shared_fixtures: Path, tmp_path: Path, name) -> None:
    path = tmp_path / (Path(name).name if name else "new.xmp")
    before: dict = {}
    if name:
        shutil.copyfile(shared_fixtures / name, path)
        before = _exiftool(path)
    crop = Crop(0.123456, 0.05, 0.9, 0.95, -2.5)
    write_sidecar_crop(path, crop, backup=False)
    after = _exiftool(path)
    assert after["XMP-crs:HasCrop"] is True
    got = [after[f"XMP-crs:Crop{k}"] for k in ("Left", "Top", "Right", "Bottom", "Angle")]
    assert got == pytest.approx(crop_tuple(crop), abs=1e-6)
    crop_keys = {f"XMP-crs:{n}" for n in CROP_NAMES}
    assert {k: v for k, v in after.items() if k not in crop_keys} == {
        k: v for k, v in before.items() if k not in crop_keys
    } | ({} if name else {"XMP-x:XMPToolkit": "CropperHead", "XMP-crs:AlreadyApplied": False})


def test_read_capped_checks_the_size_first(tmp_path):
    path = tmp_path / "a.xmp"
    path.write_bytes(b"x" * 100)
    assert read_capped(path, limit=100) == b"x" * 100
    with pytest.raises(SkipError, match="larger than 99 bytes") as info:
        read_capped(path, limit=99)
    assert info.value.reason == "bad-metadata"
    path.write_bytes(b"")
    assert read_capped(path) == b""
    with pytest.raises(FileNotFoundError):
        read_capped(tmp_path / "missing.xmp")


def test_read_capped_notices_a_file_that_grows_while_read(tmp_path, monkeypatch):
    import os

    path = tmp_path / "a.xmp"
    path.write_bytes(b"x" * 10)
    real_fstat = os.fstat

    def stale_fstat(fd):  # the size as it was before something appended to the file
        result = real_fstat(fd)
        return os.stat_result((*result[:6], 4, *result[7:]))

    monkeypatch.setattr(os, "fstat", stale_fstat)
    assert read_capped(path, limit=10) == b"x" * 10
    with pytest.raises(SkipError, match="larger than 9 bytes"):
        read_capped(path, limit=9)


def test_a_fifo_sidecar_is_refused_at_once(tmp_path):
    fifo = tmp_path / "IMG.xmp"
    os.mkfifo(fifo)
    with pytest.raises(SkipError) as info:
        read_sidecar(fifo)
    assert info.value.reason == UNREADABLE
    assert "FIFO" in info.value.detail


# --------------------------------------------------------------------------- the photo's frame


def test_write_sidecar_adds_the_frame(tmp_path: Path) -> None:
    path = tmp_path / "IMG.xmp"
    path.write_bytes(make_packet({"HasSettings": "True"}))
    write_sidecar_crop(path, Crop(0.1, 0.1, 0.9, 0.9, 1.0), image_size=(64, 48), orientation=8)
    assert tiff_values(path.read_bytes()) == {
        "ImageWidth": "64",
        "ImageLength": "48",
        "Orientation": "8",
    }
    # The same again changes nothing (no second backup).
    assert (
        write_sidecar_crop(path, Crop(0.1, 0.1, 0.9, 0.9, 1.0), image_size=(64, 48), orientation=8)
        is None
    )


@pytest.mark.skipif(EXIFTOOL is None, reason="exiftool is not installed")
def test_exiftool_reads_the_frame(tmp_path: Path) -> None:
    path = tmp_path / "IMG.xmp"
    path.write_bytes(
        merge_crop_into_xmp(None, Crop(0.1, 0.1, 0.9, 0.9, 1.0), image_size=(64, 48), orientation=6)
    )
    out = subprocess.run(
        [EXIFTOOL, "-j", "-n", "-XMP-tiff:all", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    got = json.loads(out.stdout)[0]
    assert (got["ImageWidth"], got["ImageHeight"], got["Orientation"]) == (64, 48, 6)
