"""cropperhead.metadata.exif.read_exif_orientation on generated and real files."""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import pytest
from PIL import Image

from cropperhead.geometry import ORIENTATIONS
from cropperhead.metadata.exif import read_exif_orientation


def exif_with(orientation: int | None) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "CropperHead"  # Make: an EXIF block even without an orientation
    if orientation is not None:
        exif[0x0112] = orientation
    return exif


def picture() -> Image.Image:
    return Image.new("RGB", (24, 16), (90, 120, 150))


@pytest.mark.parametrize("orientation", ORIENTATIONS)
@pytest.mark.parametrize(
    ("suffix", "options"),
    [(".jpg", {}), (".tif", {}), (".tif", {"compression": "tiff_deflate"}), (".png", {})],
)
def test_orientation_of_generated_files(
    tmp_path: Path, suffix: str, options: dict, orientation: int
) -> None:
    path = tmp_path / f"photo{suffix}"
    picture().save(path, exif=exif_with(orientation), **options)
    assert read_exif_orientation(path) == orientation


@pytest.mark.parametrize("orientation", ORIENTATIONS)
@pytest.mark.parametrize("prefixed", [False, True])
def test_orientation_of_webp_with_and_without_exif_prefix(
    tmp_path: Path, orientation: int, prefixed: bool
) -> None:
    # Pillow/libwebp write the TIFF block directly; some writers put "Exif\0\0" first.
    tiff = exif_with(orientation).tobytes().removeprefix(b"Exif\0\0")
    assert tiff[:2] in (b"II", b"MM")
    payload = (b"Exif\0\0" if prefixed else b"") + tiff
    path = tmp_path / "photo.webp"
    picture().save(path, lossless=True)
    data = bytearray(path.read_bytes())
    chunk = b"EXIF" + struct.pack("<I", len(payload)) + payload + b"\0" * (len(payload) & 1)
    data[4:8] = struct.pack("<I", len(data) - 8 + len(chunk))
    path.write_bytes(bytes(data) + chunk)
    assert read_exif_orientation(path) == orientation


@pytest.mark.parametrize("suffix", [".jpg", ".tif", ".png", ".webp"])
def test_no_orientation_tag_is_none(tmp_path: Path, suffix: str) -> None:
    with_exif = tmp_path / f"exif{suffix}"
    picture().save(with_exif, exif=exif_with(None))
    assert read_exif_orientation(with_exif) is None
    without = tmp_path / f"plain{suffix}"
    picture().save(without)
    assert read_exif_orientation(without) is None


@pytest.mark.parametrize("value", [0, 9, 300])
def test_values_outside_one_to_eight_are_none(tmp_path: Path, value: int) -> None:
    path = tmp_path / "odd.jpg"
    picture().save(path, exif=exif_with(value))
    assert read_exif_orientation(path) is None


def test_garbage_is_none_and_never_raises(tmp_path: Path) -> None:
    good = tmp_path / "good.jpg"
    picture().save(good, exif=exif_with(6))
    data = good.read_bytes()
    cases = {
        "empty.jpg": b"",
        "text.jpg": b"hello, this is not a photo\n",
        "cut.jpg": data[:40],
        "junk.tif": b"II*\0" + b"\xff\xff\xff\x7f" + b"\x07" * 64,
        "loop.tif": b"II*\0\x08\0\0\0\0\0\x08\0\0\0",  # IFD0 with no entries pointing to itself
        "huge.jpg": b"\xff\xd8\xff\xe1\xff\xff" + b"Exif\0\0MM\0*" + b"\xff" * 100,
        "noise.cr3": b"\0\0\0\x18ftypcrx " + bytes(range(256)),
        "photo.heic": b"\0\0\0\x18ftypheic" + bytes(range(200)),
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        assert read_exif_orientation(tmp_path / name) is None, name
    assert read_exif_orientation(tmp_path / "missing.jpg") is None


def test_files_without_exif_do_not_make_exifread_warn(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for suffix in (".jpg", ".png", ".webp"):
        picture().save(tmp_path / f"plain{suffix}")
    with caplog.at_level(logging.WARNING):
        for path in sorted(tmp_path.iterdir()):
            assert read_exif_orientation(path) is None
    assert not caplog.records


def test_jpeg_with_fill_bytes_and_other_segments_first(tmp_path: Path) -> None:
    path = tmp_path / "segments.jpg"
    picture().save(path, exif=exif_with(3))
    data = path.read_bytes()
    app0 = b"\xff\xe0" + struct.pack(">H", 8) + b"JFIF\0\x01"
    comment = b"\xff\xfe" + struct.pack(">H", 7) + b"hello"
    path.write_bytes(data[:2] + b"\xff" + app0 + comment + data[2:])
    assert read_exif_orientation(path) == 3


def test_real_files(shared_fixtures: Path) -> None:
    assert read_exif_orientation(shared_fixtures / "raw" / "test.dng") == 8
    assert read_exif_orientation(shared_fixtures / "raw" / "canon_eos_6d.dng") == 1
    assert read_exif_orientation(shared_fixtures / "jpeg" / "IMG_8943.jpg") == 1
    assert read_exif_orientation(shared_fixtures / "jpeg" / "wild-3.jpg") is None
    assert read_exif_orientation(shared_fixtures / "tiff" / "tif-with-iptc-icc-xmp.tif") == 1
    assert read_exif_orientation(shared_fixtures / "odd" / "RESULT-OK_0008.jp2") is None
    assert read_exif_orientation(shared_fixtures / "xmp" / "ladybug.xmp") is None
