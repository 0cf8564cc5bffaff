"""Tests of the Lightroom Classic catalog reader (cropperhead.metadata.lrcat)."""

from __future__ import annotations

import logging
import os
import re
import shutil
import sqlite3
import zlib
from pathlib import Path

import numpy as np
import pytest

from cropperhead.geometry import Crop, crop_output_size_px, display_size, points_stored_to_display
from cropperhead.metadata import lrcat, lrcat_open
from cropperhead.metadata.lrcat import (
    LIGHTROOM_ORIENTATIONS,
    CatalogError,
    SkippedRow,
    catalog_photo_path,
    decode_catalog_text,
    iter_catalog,
    open_catalog,
    orientation_from_code,
)
from cropperhead.metadata.types import (
    BAD_METADATA,
    INVALID_CROP,
    ORIGIN_LRCAT,
    UNSUPPORTED,
    DevelopSettings,
)
from tests.metadata.lrcat_builder import (
    KNOWN_CR2,
    CatalogBuilder,
    compress_text,
    develop_settings,
    develop_text,
    hold_exclusive_lock,
)

LR5 = "test_catalog_1.lrcat"
LITA = "LITA_Lightroom_Catalog.lrcat"


@pytest.fixture
def fast_busy_timeout(monkeypatch):
    """Make the reader give up on a locked catalog quickly."""
    monkeypatch.setattr(lrcat_open, "BUSY_TIMEOUT_S", 0.05)


def _by_id(items) -> dict[int, DevelopSettings | SkippedRow]:
    return {int(item.sample_key.rsplit(":", 1)[1]): item for item in items}


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


# -- the real catalogs ---------------------------------------------------------------


def test_lightroom5_fixture_rows(shared_fixtures):
    path = shared_fixtures / "lrcat" / LR5
    items = list(iter_catalog(path))
    assert [type(item) for item in items] == [DevelopSettings] * 4
    rows = _by_id(items)
    assert list(rows) == [21, 40, 63, 78]
    pictures = "/Users/maxmouchet/Pictures/2013/12-01 (MO) Pre-party Phoelix/"
    exports = "/Users/maxmouchet/Dropbox/Photos/Exports Random/fb_vaasa/"
    expected_paths = {
        21: pictures + "_MAX7667.NEF",
        40: pictures + "_MAX7674.NEF",
        63: exports + "_MAX3047.jpg",
        78: exports + "_MAX3065.jpg",
    }
    for image_id, item in rows.items():
        assert str(item.photo) == expected_paths[image_id]
        assert item.origin == ORIGIN_LRCAT
        assert item.source == path.absolute()
        assert item.sample_key == f"lrcat:{path.absolute()}:{image_id}"
        assert item.orientation == 1  # AB
        assert item.has_settings is True
        assert item.has_crop is False
        assert item.crop is None
        assert item.crop_frame == "stored"
        assert item.already_applied is False
        assert item.copy_name is None


def test_lightroom5_image_78_stale_xmp_is_not_read(shared_fixtures):
    path = shared_fixtures / "lrcat" / LR5
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro&immutable=1", uri=True)
    try:
        (xmp,) = conn.execute(
            "SELECT xmp FROM Adobe_AdditionalMetadata WHERE image = 78"
        ).fetchone()
    finally:
        conn.close()
    # The trap is real: the cached XMP holds a crop ...
    assert 'crs:HasCrop="True"' in xmp
    assert 'crs:CropLeft="0.003012"' in xmp
    assert 'crs:CropAngle="-0.416689"' in xmp
    # ... that the live develop settings do not have.
    item = _by_id(iter_catalog(path))[78]
    assert isinstance(item, DevelopSettings)
    assert item.has_crop is False
    assert item.crop is None


def test_lita_fixture_row(shared_fixtures):
    path = shared_fixtures / "lrcat" / LITA
    items = list(iter_catalog(path, fields=["crs:ProcessVersion", "crs:Version"]))
    assert len(items) == 1
    (item,) = items
    assert isinstance(item, DevelopSettings)
    assert item.sample_key.endswith(":422")
    # A Windows path read on Linux, kept as the catalog wrote it.
    assert str(item.photo) == "C:/Users/9999999iiioooooooo/Pictures/IMG-20231202-WA0027.jpg"
    assert item.orientation == 1
    assert item.has_settings is True
    assert item.has_crop is False
    assert item.fields == {"crs:ProcessVersion": "11.0", "crs:Version": "14.1"}


def test_real_catalogs_relative_paths(shared_fixtures):
    # relativePathFromCatalog as Lightroom wrote it: "../" (LITA) and
    # "../../../../Pictures/2013/" (LR5), joined to the catalog's own folder.
    folder = (shared_fixtures / "lrcat").absolute()
    (lita,) = iter_catalog(folder / LITA)
    assert lita.catalog_relative_photo == Path(
        os.path.normpath(folder / ".." / "IMG-20231202-WA0027.jpg")
    )
    lr5 = _by_id(iter_catalog(folder / LR5))
    expected = folder / "../../../../Pictures/2013/12-01 (MO) Pre-party Phoelix/_MAX7667.NEF"
    assert lr5[21].catalog_relative_photo == Path(os.path.normpath(expected))
    assert ".." not in lr5[21].catalog_relative_photo.parts


def test_relative_path_absent_or_odd(tmp_path):
    path = tmp_path / "cat.lrcat"
    with CatalogBuilder(path) as cat:
        plain = cat.add_photo("/photos/a.jpg")
        windows = cat.add_photo("C:/p/b.jpg", relative_root="../../D:/p/")
        absolute = cat.add_photo("/other/c.jpg", relative_root="/mnt/other/")
        nested = cat.add_photo("/r/sub/d.jpg", root="/r/", relative_root="..\\r\\")
    items = _by_id(iter_catalog(path))
    assert items[plain].catalog_relative_photo is None
    # Another drive on Windows: a path that cannot exist here, harmless.
    assert items[windows].catalog_relative_photo == tmp_path.parent.parent / "D:/p/b.jpg"
    assert items[absolute].catalog_relative_photo is None
    assert items[nested].catalog_relative_photo == tmp_path.parent / "r/sub/d.jpg"
    # A catalog without the column (it is optional) reads the same, without relative paths.
    conn = sqlite3.connect(path)
    conn.execute("ALTER TABLE AgLibraryRootFolder DROP COLUMN relativePathFromCatalog")
    conn.commit()
    conn.close()
    items = _by_id(iter_catalog(path))
    assert len(items) == 4
    assert all(item.catalog_relative_photo is None for item in items.values())
    assert str(items[nested].photo) == "/r/sub/d.jpg"


def test_lita_compressed_xmp_blob(shared_fixtures):
    path = shared_fixtures / "lrcat" / LITA
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro&immutable=1", uri=True)
    try:
        (blob,) = conn.execute("SELECT xmp FROM Adobe_AdditionalMetadata").fetchone()
    finally:
        conn.close()
    assert isinstance(blob, bytes)
    assert blob[:4] == b"\x00\x00\x02\xd5"
    text = decode_catalog_text(blob)
    assert len(text.encode("utf-8")) == 725
    assert text.startswith("<x:xmpmeta")
    assert "tiff:Orientation" in text


@pytest.mark.parametrize("name", [LR5, LITA])
def test_reading_a_real_catalog_changes_nothing(shared_fixtures, tmp_path, name):
    folder = tmp_path / "catalog folder"
    folder.mkdir()
    catalog = folder / name
    shutil.copy2(shared_fixtures / "lrcat" / name, catalog)  # a writable copy
    before = _snapshot(folder)
    items = list(iter_catalog(catalog))
    assert items
    conn = open_catalog(catalog)
    conn.execute("SELECT count(*) FROM Adobe_images").fetchone()
    conn.close()
    assert _snapshot(folder) == before  # same bytes, same mtime, no -wal/-shm/-journal


def test_reading_the_shared_fixtures_leaves_their_folder_alone(shared_fixtures):
    # Root ignores the folder's read-only mode, so this is the reader's own doing.
    folder = shared_fixtures / "lrcat"
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    for name in (LR5, LITA):
        assert list(iter_catalog(folder / name))
        open_catalog(folder / name).close()
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before


def test_the_connection_is_read_only(shared_fixtures, tmp_path):
    catalog = tmp_path / LR5
    shutil.copy2(shared_fixtures / "lrcat" / LR5, catalog)
    conn = open_catalog(catalog)
    try:
        with pytest.raises(sqlite3.OperationalError, match="readonly|read-only|query_only"):
            conn.execute("DELETE FROM Adobe_images")
    finally:
        conn.close()
    assert len(list(iter_catalog(catalog))) == 4


# -- generated catalogs: crops ----------------------------------------------------------


def test_known_answer_cr2_crop(tmp_path):
    photo = "/photos/2019/IMG_0001.CR2"
    with CatalogBuilder(tmp_path / "cat.lrcat") as cat:
        image_id = cat.add_photo(
            photo,
            width=KNOWN_CR2.width,
            height=KNOWN_CR2.height,
            develop=develop_text(KNOWN_CR2.crop, has_crop=True),
        )
    (item,) = iter_catalog(cat.path)
    assert isinstance(item, DevelopSettings)
    assert item.sample_key == f"lrcat:{cat.path}:{image_id}"
    assert str(item.photo) == photo
    assert item.has_crop is True
    assert item.crop_frame == "stored"
    assert item.crop == Crop(0.020308, 0.073108, 0.979692, 0.926892, -3.01)
    width, height = crop_output_size_px(item.crop, KNOWN_CR2.width, KNOWN_CR2.height)
    assert (round(width), round(height)) == KNOWN_CR2.output_size


def test_builder_writes_what_lightroom_writes(tmp_path):
    with CatalogBuilder(tmp_path / "cat.lrcat") as cat:
        cropped = cat.add_photo(
            "/p/a.CR2", develop=develop_text(KNOWN_CR2.crop), width=6720, height=4480
        )
        plain = cat.add_photo("/p/b.jpg")
    conn = sqlite3.connect(cat.path)
    rows = dict(
        conn.execute("SELECT image, croppedWidth FROM Adobe_imageDevelopSettings").fetchall()
    )
    text = conn.execute(
        "SELECT text FROM Adobe_imageDevelopSettings WHERE image = ?", (plain,)
    ).fetchone()[0]
    conn.close()
    assert rows == {cropped: 6237.0, plain: "uncropped"}
    assert text.startswith("s = { AutoLateralCA = 0,\nBlacks2012 = 0,")
    assert "Crop" not in text


def test_compressed_develop_text(tmp_path):
    with CatalogBuilder(tmp_path / "cat.lrcat") as cat:
        image_id = cat.add_photo(
            "/photos/IMG_2.CR2",
            width=6720,
            height=4480,
            develop=develop_text(KNOWN_CR2.crop),
            compressed=True,
        )
    conn = sqlite3.connect(cat.path)
    kind, blob = conn.execute(
        "SELECT typeof(text), text FROM Adobe_imageDevelopSettings WHERE image = ?", (image_id,)
    ).fetchone()
    conn.close()
    assert kind == "blob"
    assert zlib.decompress(blob[4:]).startswith(b"s = {")
    (item,) = iter_catalog(cat.path)
    assert item.crop == KNOWN_CR2.crop


def test_virtual_copies_are_samples_of_their_own(tmp_path):
    crop_a = Crop(0.1, 0.1, 0.9, 0.9, 0.0)
    crop_b = Crop(0.0, 0.2, 0.5, 1.0, 0.0)
    with CatalogBuilder(tmp_path / "cat.lrcat") as cat:
        master = cat.add_photo("/photos/IMG_3.jpg", develop=develop_text(crop_a))
        copy = cat.add_virtual_copy(master, "Copy 1", develop=develop_text(crop_b))
        unnamed = cat.add_virtual_copy(master, None, develop=develop_text())
    rows = _by_id(iter_catalog(cat.path))
    assert list(rows) == [master, copy, unnamed]
    assert rows[master].copy_name is None
    assert rows[copy].copy_name == "Copy 1"
    assert rows[unnamed].copy_name == f"copy {unnamed}"
    assert rows[master].photo == rows[copy].photo == rows[unnamed].photo
    assert rows[master].crop == crop_a
    assert rows[copy].crop == crop_b
    assert rows[unnamed].has_crop is False
    assert len({item.sample_key for item in rows.values()}) == 3


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("AB", 1),
        ("BA", 2),
        ("CD", 3),
        ("DC", 4),
        ("AD", 5),
        ("BC", 6),
        ("CB", 7),
        ("DA", 8),
        ("bc", 6),
        (" DA ", 8),
        (None, None),
        ("", None),
        ("ZZ", None),
        ("ABC", None),
    ],
)
def test_orientation_codes(tmp_path, code, expected):
    with CatalogBuilder(tmp_path / "cat.lrcat") as cat:
        cat.add_photo("/photos/IMG_4.jpg", orientation=code)
    (item,) = iter_catalog(cat.path)
    assert item.orientation == expected
    assert orientation_from_code(code) == expected


@pytest.mark.parametrize(("code", "exif"), sorted(LIGHTROOM_ORIENTATIONS.items()))
def test_orientation_letters_match_the_geometry(code, exif):
    """Each code names the display corners where the stored corners A and B end up."""
    width, height = 40.0, 30.0
    stored = np.array([[0, 0], [width, 0], [width, height], [0, height]])  # A, B, C, D
    shown_w, shown_h = display_size(width, height, exif)
    display_corners = {
        "A": (0, 0),
        "B": (shown_w, 0),
        "C": (shown_w, shown_h),
        "D": (0, shown_h),
    }
    shown = points_stored_to_display(stored, width, height, exif)
    assert tuple(shown[0]) == display_corners[code[0]]
    assert tuple(shown[1]) == display_corners[code[1]]


# -- the crop rule -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("develop", "cropped_width", "expected"),
    [
        (develop_settings(Crop(0.1, 0.2, 0.9, 0.8, 5.0)), "auto", Crop(0.1, 0.2, 0.9, 0.8, 5.0)),
        (
            develop_settings(Crop(0.1, 0.2, 0.9, 0.8), has_crop=True),
            "auto",
            Crop(0.1, 0.2, 0.9, 0.8),
        ),
        (develop_settings(Crop(0.1, 0.2, 0.9, 0.8), has_crop=False), "auto", None),
        (
            develop_settings(Crop(0.1, 0.2, 0.9, 0.8), HasCrop="True"),
            "auto",
            Crop(0.1, 0.2, 0.9, 0.8),
        ),
        (develop_settings(Crop(0.1, 0.2, 0.9, 0.8)), "uncropped", None),
        (develop_settings(CropTop=0.25), "auto", Crop(0.0, 0.25, 1.0, 1.0, 0.0)),
        (develop_settings(CropAngle=2.0), "auto", None),
        (develop_settings(has_crop=True), "auto", None),
        (develop_settings(Crop.full_frame()), "auto", Crop.full_frame()),
        (develop_settings(), "auto", None),
    ],
    ids=[
        "crop-keys",
        "hascrop-true",
        "hascrop-false",
        "hascrop-string",
        "croppedwidth-uncropped",
        "missing-edges-default",
        "angle-only",
        "hascrop-without-keys",
        "full-frame",
        "uncropped",
    ],
)
def test_crop_rule(tmp_path, develop, cropped_width, expected):
    with CatalogBuilder(tmp_path / "cat.lrcat") as cat:
        kwargs = {} if cropped_width == "auto" else {"cropped_width": cropped_width}
        cat.add_photo("/photos/IMG_5.jpg", develop=develop, **kwargs)
    (item,) = iter_catalog(cat.path)
    assert isinstance(item, DevelopSettings)
    assert item.has_settings is True
    assert item.crop == expected
    assert item.has_crop is (expected is not None)


def test_no_develop_row_means_no_settings(tmp_path):
    with CatalogBuilder(tmp_path / "cat.lrcat") as cat:
        cat.add_photo("/photos/IMG_6.jpg", develop=None)
    (item,) = iter_catalog(cat.path, fields=["crs:Exposure2012"])
    assert isinstance(item, DevelopSettings)
    assert item.has_settings is False
    assert item.has_crop is False
    assert item.fields == {}


def test_crop_comes_from_develop_settings_not_from_cached_xmp(tmp_path):
    stale = '<x:xmpmeta><rdf:Description crs:HasCrop="True" crs:CropLeft="0.3"/></x:xmpmeta>'
    with CatalogBuilder(tmp_path / "cat.lrcat", schema="lr5") as cat:
        trap = cat.add_photo("/photos/trap.jpg", xmp=stale)
        live = cat.add_photo("/photos/live.jpg", develop=develop_text(Crop(0.2, 0, 1, 1)))
    rows = _by_id(iter_catalog(cat.path))
    assert rows[trap].has_crop is False
    assert rows[live].crop == Crop(0.2, 0.0, 1.0, 1.0)


# -- corrupt rows --------------------------------------------------------------------------


def test_corrupt_rows_are_skipped_and_iteration_goes_on(tmp_path):
    good_crop = Crop(0.1, 0.1, 0.9, 0.9)
    truncated = compress_text(develop_text(good_crop))[:-10]
    bad_length = b"\x00\x00\x10\x00" + zlib.compress(develop_text().encode())
    cases = {
        "bad-zlib": (b"\x00\x00\x01\x00\x78\x9c" + b"garbage" * 5, BAD_METADATA, "corrupt"),
        "truncated-zlib": (truncated, BAD_METADATA, "length"),
        "wrong-length": (bad_length, BAD_METADATA, "length"),
        "not-utf8": (b"s = { A = '\xff\xfe' }", BAD_METADATA, "UTF-8"),
        "unparsable": ("s = { CropLeft = ", BAD_METADATA, "Lua literal"),
        "expression": ("s = { CropLeft = 0/0 }", BAD_METADATA, "Lua literal"),
        "list": ("s = { 1, 2 }", BAD_METADATA, "keyed"),
        "hascrop-number": ("s = { HasCrop = 3, CropLeft = 0.1 }", BAD_METADATA, "HasCrop"),
        "out-of-range": ("s = { CropLeft = 1.5, CropRight = 1 }", INVALID_CROP, "[0, 1]"),
        "infinite": ("s = { CropLeft = 1e999 }", INVALID_CROP, "finite"),
        "string-edge": ('s = { CropLeft = "abc" }', INVALID_CROP, "not a number"),
        "bool-edge": ("s = { CropLeft = true }", INVALID_CROP, "not a number"),
        "steep-angle": ("s = { CropLeft = 0.1, CropAngle = 60 }", INVALID_CROP, "angle"),
        "left-of-right": ("s = { CropLeft = 0.8, CropRight = 0.2 }", INVALID_CROP, "inside"),
    }
    ids = {}
    with CatalogBuilder(tmp_path / "cat.lrcat") as cat:
        for name, (develop, _, _) in cases.items():
            ids[name] = cat.add_photo(f"/photos/{name}.jpg", develop=develop)
        ids["number-text"] = cat.add_photo("/photos/number-text.jpg", develop="s = {}")
        cat.execute(
            "UPDATE Adobe_imageDevelopSettings SET text = 5 WHERE image = ?", (ids["number-text"],)
        )
        ids["no-file"] = cat.add_image_without_file()
        ids["video"] = cat.add_photo("/photos/clip.mov")
        ids["good"] = cat.add_photo("/photos/good.jpg", develop=develop_text(good_crop))
    cases["number-text"] = (None, BAD_METADATA, "integer")
    cases["no-file"] = (None, BAD_METADATA, "AgLibraryFile")
    cases["video"] = (None, UNSUPPORTED, "video")

    rows = _by_id(iter_catalog(cat.path))
    assert list(rows) == sorted(ids.values())
    assert rows[ids["good"]].crop == good_crop
    for name, (_, reason, needle) in cases.items():
        item = rows[ids[name]]
        assert isinstance(item, SkippedRow), name
        assert item.reason == reason, (name, item.detail)
        assert needle in item.detail, (name, item.detail)
        assert "\n" not in item.detail
        assert f"catalog image {ids[name]}" in item.detail
        expected_source = f"{cat.path}#{ids[name]}" if name == "no-file" else f"/photos/{name}.jpg"
        if name == "video":
            expected_source = "/photos/clip.mov"
        assert item.source == expected_source
        assert item.to_record() == {"source": item.source, "reason": reason, "detail": item.detail}


def test_skipped_row_checks_its_reason():
    with pytest.raises(ValueError, match="unknown skip reason"):
        SkippedRow("x", "broken", "detail")


# -- fields ------------------------------------------------------------------------------


def test_fields_are_written_as_xmp_would(tmp_path):
    develop = develop_settings(
        Exposure2012=0.35,
        Contrast2012=-12,
        Temperature=5500.0,
        Texture=1e-7,
        AutoGrayscaleMix=True,
        ConvertToGrayscale=False,
        WhiteBalance="As Shot",
        ToneCurvePV2012=[0, 0, 255, 255],
        Look={"Name": "Adobe Color", "Amount": 1},
    )
    names = [
        "crs:Exposure2012",
        "crs:Contrast2012",
        "crs:Temperature",
        "crs:Texture",
        "crs:AutoGrayscaleMix",
        "crs:ConvertToGrayscale",
        "crs:WhiteBalance",
        "crs:ToneCurvePV2012",
        "crs:Look",
        "crs:NotThere",
        "xmp:Rating",
    ]
    with CatalogBuilder(tmp_path / "cat.lrcat") as cat:
        cat.add_photo("/photos/IMG_7.jpg", develop=develop)
    (item,) = iter_catalog(cat.path, fields=names)
    assert item.fields == {
        "crs:Exposure2012": "0.35",
        "crs:Contrast2012": "-12",
        "crs:Temperature": "5500",
        "crs:Texture": "1e-07",
        "crs:AutoGrayscaleMix": "True",
        "crs:ConvertToGrayscale": "False",
        "crs:WhiteBalance": "As Shot",
        "crs:ToneCurvePV2012": "[0,0,255,255]",
        "crs:Look": '{"Name":"Adobe Color","Amount":1}',
    }


@pytest.mark.parametrize("bad", [["Exposure2012"], ["crs:"], [3]])
def test_bad_field_names(tmp_path, bad):
    with CatalogBuilder(tmp_path / "cat.lrcat") as cat:
        cat.add_photo("/photos/IMG_8.jpg")
    with pytest.raises(ValueError, match="PREFIX:NAME"):
        iter_catalog(cat.path, fields=bad)
    with pytest.raises(TypeError):
        iter_catalog(cat.path, fields="crs:Exposure2012")


# -- paths ---------------------------------------------------------------------------------


def test_paths_from_roots_and_folders(tmp_path):
    with CatalogBuilder(tmp_path / "cat.lrcat") as cat:
        nested = cat.add_photo("/Volumes/Photos/2020/06 June/IMG 9.CR2", root="/Volumes/Photos/")
        windows = cat.add_photo(
            "C:/Users/me/Pictures/2021/DSC_0001.NEF", root="C:/Users/me/Pictures"
        )
        no_ext = cat.add_photo("/photos/README")
        odd = cat.add_photo("/photos/ünïcödé ?#%20/漢字 photo.jpeg")
    conn = sqlite3.connect(cat.path)
    folders = conn.execute(
        "SELECT r.absolutePath, f.pathFromRoot FROM AgLibraryFolder f "
        "JOIN AgLibraryRootFolder r ON r.id_local = f.rootFolder ORDER BY f.id_local"
    ).fetchall()
    conn.close()
    assert folders[0] == ("/Volumes/Photos/", "2020/06 June/")
    assert folders[1] == ("C:/Users/me/Pictures/", "2021/")
    rows = _by_id(iter_catalog(cat.path))
    assert str(rows[nested].photo) == "/Volumes/Photos/2020/06 June/IMG 9.CR2"
    assert str(rows[windows].photo) == "C:/Users/me/Pictures/2021/DSC_0001.NEF"
    assert str(rows[no_ext].photo) == "/photos/README"
    assert str(rows[odd].photo) == "/photos/ünïcödé ?#%20/漢字 photo.jpeg"


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (("/photos/", "", "IMG", "jpg"), "/photos/IMG.jpg"),
        (("/photos", "2020", "IMG", "jpg"), "/photos/2020/IMG.jpg"),
        (("/photos/", "2020/a/", "IMG", None), "/photos/2020/a/IMG"),
        (("C:/Users/x/", "Pics/", "A.B", "tif"), "C:/Users/x/Pics/A.B.tif"),
        (("//server/share/", "", "IMG", "dng"), "//server/share/IMG.dng"),
    ],
)
def test_catalog_photo_path(parts, expected):
    assert str(catalog_photo_path(*parts)) == expected


@pytest.mark.parametrize("parts", [("", "", "IMG", "jpg"), ("/photos/", "", "", "jpg")])
def test_catalog_photo_path_refuses_empty_parts(parts):
    with pytest.raises(ValueError, match="empty"):
        catalog_photo_path(*parts)


def test_catalog_path_with_odd_characters(tmp_path):
    folder = tmp_path / "my cat?alog #1 %41 ünï"
    folder.mkdir()
    name = "Lightroom Catalog ?#%41.lrcat"
    # Where a path that is not percent-encoded would lead ("%41" read as "A").
    decoy = tmp_path / "my cat?alog #1 A ünï"
    decoy.mkdir()
    (decoy / "Lightroom Catalog ?#A.lrcat").write_bytes(b"not a catalog")
    with CatalogBuilder(folder / name) as cat:
        image_id = cat.add_photo("/photos/IMG_9.jpg", develop=develop_text(Crop(0, 0, 0.5, 0.5)))
    before = _snapshot(folder)
    (item,) = iter_catalog(cat.path)
    assert item.sample_key == f"lrcat:{cat.path}:{image_id}"
    assert item.source == cat.path
    assert item.crop == Crop(0, 0, 0.5, 0.5)
    open_catalog(cat.path).close()
    assert _snapshot(folder) == before


# -- files that are not catalogs -----------------------------------------------------------


def _assert_catalog_error(path: Path, pattern: str) -> None:
    with pytest.raises(CatalogError, match=pattern) as caught:
        open_catalog(path)
    assert isinstance(caught.value, ValueError)
    assert "\n" not in str(caught.value)
    with pytest.raises(CatalogError, match=pattern):
        iter_catalog(path)  # raises on the call, before any iteration


def test_garbage_file(tmp_path):
    path = tmp_path / "garbage.lrcat"
    path.write_bytes(os.urandom(4096))
    _assert_catalog_error(path, "not an SQLite database")


def test_empty_and_truncated_files(tmp_path):
    empty = tmp_path / "empty.lrcat"
    empty.write_bytes(b"")
    _assert_catalog_error(empty, "not an SQLite database")
    truncated = tmp_path / "truncated.lrcat"
    truncated.write_bytes(b"SQLite format 3\x00" + b"\x10\x00\x01\x01" + b"\x00" * 200)
    _assert_catalog_error(truncated, "not a readable Lightroom catalog|not a Lightroom catalog")


def test_sqlite_file_that_is_not_a_catalog(tmp_path):
    path = tmp_path / "other.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)")
    conn.commit()
    conn.close()
    _assert_catalog_error(path, "no Adobe_images table")


def test_missing_file_and_folder(tmp_path):
    _assert_catalog_error(tmp_path / "nope.lrcat", "not found")
    _assert_catalog_error(tmp_path, "folder")


def test_a_fifo_named_like_a_catalog_is_refused_at_once(tmp_path):
    """Opening a FIFO for reading waits for a writer: it must be refused, not opened."""
    fifo = tmp_path / "Catalog.lrcat"
    os.mkfifo(fifo)
    _assert_catalog_error(fifo, r"catalog is a FIFO \(named pipe\), not a file")


def test_catalog_missing_a_table_the_reader_needs(tmp_path):
    with CatalogBuilder(tmp_path / "cat.lrcat") as cat:
        cat.add_photo("/photos/IMG_10.jpg")
        cat.execute("DROP TABLE Adobe_imageDevelopSettings")
    open_catalog(cat.path).close()  # still a catalog ...
    with pytest.raises(CatalogError, match="lacks the Adobe_imageDevelopSettings table"):
        iter_catalog(cat.path)  # ... but not one the reader can use


# -- locks and read-only proof -----------------------------------------------------------


@pytest.mark.parametrize("journal_mode", ["delete", "wal"])
def test_generated_catalog_read_changes_nothing(tmp_path, journal_mode):
    folder = tmp_path / "cat"
    folder.mkdir()
    with CatalogBuilder(folder / "c.lrcat", journal_mode=journal_mode) as cat:
        cat.add_photo("/photos/IMG_11.jpg", develop=develop_text(Crop(0.1, 0, 1, 1)))
    header = (folder / "c.lrcat").read_bytes()[:100]
    assert (header[18] == 2) is (journal_mode == "wal")
    before = _snapshot(folder)
    assert [item.crop for item in iter_catalog(cat.path)] == [Crop(0.1, 0, 1, 1)]
    assert _snapshot(folder) == before


def test_wal_catalog_with_empty_leftover_wal_file(tmp_path):
    folder = tmp_path / "cat"
    folder.mkdir()
    with CatalogBuilder(folder / "c.lrcat", journal_mode="wal") as cat:
        cat.add_photo("/photos/IMG_14.jpg")
    (folder / "c.lrcat-wal").write_bytes(b"")
    before = _snapshot(folder)
    assert len(list(iter_catalog(cat.path))) == 1
    assert _snapshot(folder) == before  # no -shm appears


def test_wal_catalog_with_pending_edits_is_read_with_them(tmp_path):
    folder = tmp_path / "cat"
    folder.mkdir()
    with CatalogBuilder(folder / "c.lrcat", journal_mode="wal") as cat:
        image_id = cat.add_photo("/photos/IMG_15.jpg")
    main_before = (folder / "c.lrcat").read_bytes()
    # Lightroom-like writer (normal locking) commits a crop that stays in the -wal file.
    writer = sqlite3.connect(cat.path, isolation_level=None)
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.execute(
        "UPDATE Adobe_imageDevelopSettings SET text = ?, croppedWidth = 3000 WHERE image = ?",
        (develop_text(Crop(0.25, 0, 0.75, 1)), image_id),
    )
    try:
        assert (folder / "c.lrcat-wal").stat().st_size > 0
        names = sorted(p.name for p in folder.iterdir())
        (item,) = iter_catalog(cat.path)
        assert item.crop == Crop(0.25, 0, 0.75, 1)
        assert sorted(p.name for p in folder.iterdir()) == names
        assert (folder / "c.lrcat").read_bytes() == main_before
    finally:
        writer.close()


@pytest.mark.parametrize("journal_mode", ["delete", "wal"])
def test_catalog_locked_by_lightroom(tmp_path, caplog, fast_busy_timeout, journal_mode):
    folder = tmp_path / "cat"
    folder.mkdir()
    crop = Crop(0.2, 0.1, 0.8, 0.9, 1.5)
    with CatalogBuilder(folder / "c.lrcat", journal_mode=journal_mode) as cat:
        cat.add_photo("/photos/IMG_12.CR2", develop=develop_text(crop))
    with hold_exclusive_lock(cat.path):
        # The lock is real: a plain read-only reader is refused.
        plain = sqlite3.connect(f"{cat.path.as_uri()}?mode=ro", uri=True, timeout=0.05)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            plain.execute("SELECT count(*) FROM Adobe_images").fetchone()
        plain.close()
        before = _snapshot(folder)
        with caplog.at_level(logging.WARNING, logger="cropperhead.metadata.lrcat"):
            items = list(iter_catalog(cat.path))
        assert _snapshot(folder) == before  # the reader added and changed nothing
    assert [item.crop for item in items] == [crop]
    assert any("locked" in record.getMessage() for record in caplog.records)


def test_lock_taken_while_iterating(tmp_path, caplog, fast_busy_timeout):
    n = lrcat._BATCH_ROWS + 20
    with CatalogBuilder(tmp_path / "c.lrcat") as cat:
        ids = [cat.add_photo(f"/photos/IMG_{i:04d}.jpg") for i in range(n)]
    items = iter_catalog(cat.path)
    first = next(items)
    with hold_exclusive_lock(cat.path), caplog.at_level(logging.WARNING):
        rest = list(items)
    assert [int(i.sample_key.rsplit(":", 1)[1]) for i in [first, *rest]] == ids
    assert any("became locked" in record.getMessage() for record in caplog.records)


def test_iteration_holds_no_lock_between_batches(tmp_path):
    n = lrcat._BATCH_ROWS + 20
    with CatalogBuilder(tmp_path / "c.lrcat") as cat:
        for i in range(n):
            cat.add_photo(f"/photos/IMG_{i:04d}.jpg")
    items = iter_catalog(cat.path)
    next(items)
    # Lightroom must be able to write while a scan works through the rows.
    writer = sqlite3.connect(cat.path, timeout=0, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE Adobe_images SET rating = 5")
    writer.execute("COMMIT")
    writer.close()
    assert len(list(items)) == n - 1


def test_iterator_closes_its_connection(tmp_path, monkeypatch):
    with CatalogBuilder(tmp_path / "c.lrcat") as cat:
        cat.add_photo("/photos/IMG_13.jpg")
    closed = []
    real_connect = lrcat_open._connect

    def spy(*args, **kwargs):
        conn = real_connect(*args, **kwargs)
        closed.append(conn)
        return conn

    monkeypatch.setattr(lrcat_open, "_connect", spy)
    assert len(list(iter_catalog(cat.path))) == 1
    (conn,) = closed
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        conn.execute("SELECT 1")


# -- decode_catalog_text ---------------------------------------------------------------------


def test_decode_catalog_text():
    text = 's = { Exposure2012 = 0.35, Name = "ünï" }'
    assert decode_catalog_text(None) is None
    assert decode_catalog_text(text) == text
    assert decode_catalog_text(text.encode("utf-8")) == text
    assert decode_catalog_text(compress_text(text)) == text
    assert decode_catalog_text(memoryview(compress_text(""))) == ""


@pytest.mark.parametrize(
    ("blob", "pattern"),
    [
        (b"\x00\x00\x00\x05\x78\x9cnot zlib", "corrupt compressed text"),
        (compress_text("abcdef")[:-3], "does not match its length"),
        (b"\x00\x00\x00\x03" + zlib.compress(b"abcdef"), "does not match its length"),
        (b"\x00\x00\x00\x09" + zlib.compress(b"abcdef"), "does not match its length"),
        (b"\x7f\xff\xff\xff" + zlib.compress(b"abc"), "more than"),
        (b"\xff\xfe\xfd", "not UTF-8"),
        (compress_text(b"\xff\xfe"), "not UTF-8"),
    ],
)
def test_decode_catalog_text_refuses(blob, pattern):
    with pytest.raises(ValueError, match=pattern):
        decode_catalog_text(blob)


def test_decode_catalog_text_bomb_is_bounded():
    zeros = zlib.compress(b"\x00" * 10_000_000, 9)  # 10 MB of zeros in about 10 kB
    with pytest.raises(ValueError, match="more than"):
        decode_catalog_text((10_000_000).to_bytes(4, "big") + zeros, max_bytes=1_000_000)
    # Lying about the size does not help: inflation stops one byte past the claim.
    liar = (1000).to_bytes(4, "big") + zeros
    with pytest.raises(ValueError, match=re.escape("stream gives 1001 or more")):
        decode_catalog_text(liar)
    with pytest.raises(TypeError):
        decode_catalog_text(5)  # type: ignore[arg-type]
