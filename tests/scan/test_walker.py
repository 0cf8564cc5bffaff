import os

import pytest

from cropperhead.scan import walker
from tests.scan.library import make_photo


def touch(path, data=b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_walk_finds_photos_by_extension_any_case(tmp_path):
    a = make_photo(tmp_path / "a.jpg")
    b = make_photo(tmp_path / "sub" / "deeper" / "B.JPG")
    c = touch(tmp_path / "c.CR2")
    touch(tmp_path / "notes.txt")
    touch(tmp_path / "movie.mov")
    found = walker.walk_sources([tmp_path])
    assert found.photos == sorted(walker.absolute(p) for p in (a, b, c))
    assert found.unsupported == []
    assert found.orphans == []


def test_walk_skips_hidden_and_excluded_folders_and_symlink_loops(tmp_path):
    make_photo(tmp_path / "lib" / "a.jpg")
    make_photo(tmp_path / "lib" / ".hidden" / "b.jpg")
    make_photo(tmp_path / "lib" / ".c.jpg")
    make_photo(tmp_path / "lib" / "out" / "images" / "x.jpg")
    (tmp_path / "lib" / "sub").mkdir()
    os.symlink(tmp_path / "lib", tmp_path / "lib" / "sub" / "loop")
    found = walker.walk_sources([tmp_path / "lib"], exclude=[tmp_path / "lib" / "out"])
    assert [p.name for p in found.photos] == ["a.jpg"]


def test_symlinked_folder_is_followed_once(tmp_path):
    make_photo(tmp_path / "real" / "a.jpg")
    (tmp_path / "lib").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "lib" / "link")
    found = walker.walk_sources([tmp_path / "lib", tmp_path / "real"])
    assert [p.name for p in found.photos] == ["a.jpg"]


def test_orphan_sidecars_and_direct_files(tmp_path):
    photo = make_photo(tmp_path / "IMG_1.jpg")
    touch(tmp_path / "IMG_1.xmp")
    touch(tmp_path / "IMG_2.CR2.xmp")
    touch(tmp_path / "picture.jp2")
    text = touch(tmp_path / "other" / "readme.txt")
    found = walker.walk_sources([tmp_path / "IMG_1.jpg", tmp_path / "IMG_2.CR2.xmp", text])
    assert found.photos == [walker.absolute(photo)]
    assert [o.name for o, _ in found.orphans] == ["IMG_2.CR2.xmp"]
    assert [u.name for u, _ in found.unsupported] == ["readme.txt"]
    whole = walker.walk_sources([tmp_path])
    assert [u.name for u, _ in whole.unsupported] == ["picture.jp2"]
    assert [o.name for o, _ in whole.orphans] == ["IMG_2.CR2.xmp"]


def test_sidecar_given_directly_stands_for_its_photo(tmp_path):
    photo = make_photo(tmp_path / "IMG_1.jpg")
    sidecar = touch(tmp_path / "IMG_1.xmp")
    found = walker.walk_sources([sidecar])
    assert found.photos == [walker.absolute(photo)]
    assert found.orphans == []


def test_missing_source_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing"):
        walker.walk_sources([tmp_path / "nothing"])


def test_sidecar_order_and_raw_jpeg_pairs(tmp_path):
    raw = touch(tmp_path / "IMG_1.CR2")
    jpg = make_photo(tmp_path / "IMG_1.jpg")
    stem = touch(tmp_path / "IMG_1.xmp")
    full = touch(tmp_path / "IMG_1.CR2.XMP")
    own = touch(tmp_path / "IMG_1.jpg.xmp")
    lone = make_photo(tmp_path / "IMG_2.jpg")
    lone_sidecar = touch(tmp_path / "IMG_2.xmp")
    touch(tmp_path / "img_2.jpg.xmp")  # the base name must match exactly
    cache: dict = {}
    assert walker.find_sidecars(raw, cache) == [stem, full]
    # IMG_1.xmp belongs to the RAW; the JPEG of the pair keeps only its own sidecar.
    assert walker.find_sidecars(jpg, cache) == [own]
    assert walker.find_sidecars(lone, cache) == [lone_sidecar]


def test_lowercase_sidecar_extension_comes_first(tmp_path):
    photo = make_photo(tmp_path / "a.jpg")
    upper = touch(tmp_path / "a.XMP")
    lower = touch(tmp_path / "a.xmp")
    assert walker.find_sidecars(photo, {}) == [lower, upper]
