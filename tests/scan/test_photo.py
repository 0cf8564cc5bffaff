"""Unit tests of the work on one photo: image names, sidecars, load_photo."""

import pytest

from cropperhead.metadata.types import SkipError
from cropperhead.scan.photo import image_name


def test_image_names_are_stable_and_distinct():
    from pathlib import Path

    photo = Path("/photos/My Photo (1).CR2")
    a = image_name(photo, "", "key1")
    assert a == image_name(photo, "", "key1")
    assert a.startswith("My_Photo_1_")
    assert a.endswith(".jpg")
    assert a != image_name(photo, "copy", "key1")
    assert a != image_name(photo, "", "key2")
    assert a != image_name(Path("/other/My Photo (1).CR2"), "", "key1")


def test_load_photo_orients_like_the_scan(tmp_path):
    from cropperhead.scan.photo import load_photo
    from tests.scan.library import make_photo, xmp_packet

    # EXIF says 6; the sidecar's tiff:Orientation (a rotation made in the editor) wins.
    photo = make_photo(tmp_path / "a.jpg", (64, 48), orientation=6, mark=(0, 0, 8, 8))
    assert load_photo(photo, 32).orientation == 6
    (tmp_path / "a.xmp").write_bytes(xmp_packet(has_settings=True, orientation=8))
    shown = load_photo(photo, 32)
    assert shown.orientation == 8
    assert (shown.width, shown.height) == (48, 64)
    # Orientation 8 shows the stored top-left corner at the display bottom-left.
    r, g, b = shown.image.getpixel((1, shown.image.height - 2))
    assert r > 200 > b
    with pytest.raises(SkipError):
        load_photo(tmp_path / "a.xmp", 32)


def test_jobs_carry_sidecars_without_their_bytes(tmp_path):
    from cropperhead.scan.photo import Sidecar, _read_sidecar

    path = tmp_path / "a.xmp"
    path.write_bytes(b"<x/>" * 1000)
    read = _read_sidecar(path)
    assert read.packet == path.read_bytes()
    # A job's sidecar: the worker reads the file again.
    assert Sidecar(path, None).loaded() == read
    # Errors are kept as they are, not re-read.
    missing = _read_sidecar(tmp_path / "gone.xmp")
    assert missing.error is not None
    assert missing.packet is None
    assert missing.loaded() is missing
    assert Sidecar(tmp_path / "gone.xmp", None).loaded() == missing
