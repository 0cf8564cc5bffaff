"""A catalog's photos found after they moved: --path-map and relativePathFromCatalog."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cropperhead.metadata.types import ORIGIN_LRCAT, DevelopSettings
from cropperhead.scan import scan_library
from cropperhead.scan.relocate import (
    PathMap,
    locate_catalog_photo,
    parse_path_map,
    suggest_path_map,
)
from tests.metadata.lrcat_builder import CatalogBuilder, develop_text
from tests.scan.library import PLAIN, H, W, by_source, check_label, make_photo, read_lines, run_cli

# --------------------------------------------------------------------------- the rules


@pytest.mark.parametrize(
    ("old", "path", "expected"),
    [
        ("D:/Photos", "D:/Photos/2023/a.jpg", "/mnt/p/2023/a.jpg"),
        ("D:/Photos/", "D:/Photos/2023/a.jpg", "/mnt/p/2023/a.jpg"),
        ("d:/photos", "D:/Photos/2023/a.jpg", "/mnt/p/2023/a.jpg"),  # Windows ignores case
        ("D:\\Photos", "D:/Photos/a.jpg", "/mnt/p/a.jpg"),
        ("D:/Photos", "D:\\Photos\\a.jpg", "/mnt/p/a.jpg"),
        ("D:/Photos", "D:/Photos2/a.jpg", None),  # whole folder names only
        ("D:/Photos", "E:/Photos/a.jpg", None),
        ("/Volumes/Photos", "/Volumes/Photos/a.jpg", "/mnt/p/a.jpg"),
        ("/Volumes/Photos", "/Volumes/photos/a.jpg", None),  # Unix paths keep their case
        ("/", "/a/b.jpg", "/mnt/p/a/b.jpg"),
        ("D:/Photos/a.jpg", "D:/Photos/a.jpg", "/mnt/p"),  # a single file maps too
    ],
)
def test_path_map_replaces_whole_leading_folders(old, path, expected):
    assert PathMap(old, Path("/mnt/p")).apply(path) == expected


def test_parse_path_map():
    assert parse_path_map("C:/Users/me=/data") == PathMap("C:/Users/me", Path("/data"))
    assert parse_path_map(" C:/a = /b ") == PathMap("C:/a", Path("/b"))
    assert parse_path_map("/old=/new=x") == PathMap("/old", Path("/new=x"))  # first "=" splits
    home = parse_path_map("/old=~/photos")
    assert home.new == Path.home() / "photos"
    relative = parse_path_map("/old=photos")
    assert relative.new.is_absolute()
    assert relative.new.name == "photos"
    for bad in ("/old", "=/new", "/old=", " = "):
        with pytest.raises(ValueError, match="OLD=NEW"):
            parse_path_map(bad)


def _row(photo: str, moved: Path | None = None) -> DevelopSettings:
    return DevelopSettings(
        origin=ORIGIN_LRCAT, has_settings=True, photo=Path(photo), catalog_relative_photo=moved
    )


def test_locate_tries_map_then_path_then_catalog_relative(tmp_path):
    for name in ("mapped", "written", "relative"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "a.jpg").write_bytes(b"x")
    written = str(tmp_path / "written" / "a.jpg")
    moved = tmp_path / "relative" / "a.jpg"
    maps = [PathMap(str(tmp_path / "written"), tmp_path / "mapped")]
    found, tried = locate_catalog_photo(_row(written, moved), maps)
    assert found == tmp_path / "mapped" / "a.jpg"
    assert tried == [str(found)]
    (tmp_path / "mapped" / "a.jpg").unlink()
    found, tried = locate_catalog_photo(_row(written, moved), maps)
    assert found == Path(written)
    assert tried == [str(tmp_path / "mapped" / "a.jpg"), written]
    Path(written).unlink()
    found, tried = locate_catalog_photo(_row(written, moved), maps)
    assert found == moved
    moved.unlink()
    found, tried = locate_catalog_photo(_row(written, moved), maps)
    assert found is None
    assert tried == [str(tmp_path / "mapped" / "a.jpg"), written, str(moved)]


def test_longest_map_wins(tmp_path):
    (tmp_path / "deep").mkdir()
    (tmp_path / "deep" / "a.jpg").write_bytes(b"x")
    maps = [
        PathMap("C:/Photos", tmp_path / "shallow"),
        PathMap("C:/Photos/2023", tmp_path / "deep"),
    ]
    found, _ = locate_catalog_photo(_row("C:/Photos/2023/a.jpg"), maps)
    assert found == tmp_path / "deep" / "a.jpg"
    found, _ = locate_catalog_photo(_row("C:/Photos/2023/a.jpg"), maps[::-1])
    assert found == tmp_path / "deep" / "a.jpg"


def test_a_folder_is_not_a_photo(tmp_path):
    (tmp_path / "a.jpg").mkdir()
    assert locate_catalog_photo(_row(str(tmp_path / "a.jpg")))[0] is None


@pytest.mark.parametrize(
    ("missing", "expected"),
    [
        (
            ["C:/Users/me/Pictures/2023/a.jpg", "C:/Users/me/Pictures/2024/b.jpg"],
            "C:/Users/me/Pictures",
        ),
        (["/Volumes/P/x/a.jpg"], "/Volumes/P/x"),
        (["/Volumes/P/x/a.jpg", "/Volumes/Q/b.jpg"], "/Volumes"),
        (["/a/b.jpg", "/c/d.jpg"], "/"),
        (["C:/a/b.jpg", "/c/d.jpg"], None),
        (["C:/a/b.jpg", "D:/c/d.jpg"], None),
        ([], None),
    ],
)
def test_suggest_path_map(missing, expected):
    assert suggest_path_map(missing) == expected


# --------------------------------------------------------------------------- the scan


def _windows_catalog(tmp_path: Path, *, relative_root: str | None = None) -> tuple[Path, Path]:
    """A catalog written on Windows (photos under C:/Users/me/Pictures) and the photos here."""
    lib = tmp_path / "copied" / "Pictures"
    path = tmp_path / "copied" / "Lightroom" / "cat.lrcat"
    path.parent.mkdir(parents=True)
    with CatalogBuilder(path) as cat:
        for sub in ("2023", "2024"):
            make_photo(lib / sub / f"IMG_{sub}.jpg", (W, H))
            cat.add_photo(
                f"C:/Users/me/Pictures/{sub}/IMG_{sub}.jpg",
                width=W,
                height=H,
                develop=develop_text(crop=PLAIN),
                root="C:/Users/me/Pictures/",
                relative_root=relative_root,
            )
    return path, lib


def test_scan_finds_a_windows_catalogs_photos_through_path_map(tmp_path):
    catalog, lib = _windows_catalog(tmp_path)
    out = tmp_path / "out"
    summary = scan_library([], out, catalogs=[catalog], workers=1, progress=False)
    assert summary.samples == 0
    assert summary.skipped_by_reason == {"missing-file": 2}
    (hint,) = summary.hints
    assert "2 photo(s) of cat.lrcat" in hint
    assert "--path-map 'C:/Users/me/Pictures=" in hint
    assert "hint: 2 photo(s)" in summary.format()

    maps = [f"C:/Users/me/Pictures={lib}"]
    summary = scan_library([], out, catalogs=[catalog], workers=1, progress=False, path_maps=maps)
    assert summary.samples_by_origin == {"lrcat": 2}
    assert summary.skipped == 0
    assert summary.hints == []
    samples = by_source(read_lines(out / "manifest.jsonl"))
    assert sorted(samples) == ["IMG_2023.jpg", "IMG_2024.jpg"]
    for (line,) in samples.values():
        assert Path(line["source"]).parent.parent == lib.resolve()
        check_label(line, PLAIN, W, H, 1)
    again = scan_library([], out, catalogs=[catalog], workers=1, progress=False, path_maps=maps)
    assert (again.new, again.updated, again.unchanged) == (0, 0, 2)


def test_scan_finds_photos_moved_together_with_their_catalog(tmp_path):
    catalog, lib = _windows_catalog(tmp_path, relative_root="../Pictures/")
    out = tmp_path / "out"
    summary = scan_library([], out, catalogs=[catalog], workers=1, progress=False)
    assert summary.samples_by_origin == {"lrcat": 2}
    assert summary.hints == []
    shutil.move(lib, tmp_path / "elsewhere")
    summary = scan_library([], out, catalogs=[catalog], workers=1, progress=False)
    assert summary.skipped_by_reason == {"missing-file": 2}
    details = [r["detail"] for r in read_lines(out / "skipped.jsonl")]
    assert all(f"also looked at {lib}" in d for d in details), details


def test_real_catalog_relative_path_finds_a_copied_photo(tmp_path, shared_fixtures):
    # The LITA catalog was written on Windows with its photos one folder up ("../").
    catalog = tmp_path / "library" / "Lightroom" / "LITA.lrcat"
    catalog.parent.mkdir(parents=True)
    shutil.copy(shared_fixtures / "lrcat" / "LITA_Lightroom_Catalog.lrcat", catalog)
    photo = make_photo(tmp_path / "library" / "IMG-20231202-WA0027.jpg", (W, H))
    out = tmp_path / "out"
    summary = scan_library(
        [], out, catalogs=[catalog], workers=1, progress=False, include_uncropped=True
    )
    (line,) = read_lines(out / "manifest.jsonl")
    assert summary.samples_by_origin == {"lrcat": 1}
    assert line["source"] == str(photo.resolve())
    assert line["crop"] == {"left": 0.0, "top": 0.0, "right": 1.0, "bottom": 1.0, "angle": 0.0}

    moved = tmp_path / "nas" / "photos"
    moved.mkdir(parents=True)
    shutil.move(photo, moved / photo.name)
    summary = scan_library(
        [],
        out,
        catalogs=[catalog],
        workers=1,
        progress=False,
        include_uncropped=True,
        path_maps=[f"C:/Users/9999999iiioooooooo/Pictures={moved}"],
        prune=True,  # the sample of the photo's old place goes
    )
    assert (summary.new, summary.pruned) == (1, 1)
    (line,) = read_lines(out / "manifest.jsonl")
    assert line["source"] == str((moved / photo.name).resolve())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--catalog", "CAT", "--path-map", "C:/only-old"], "--path-map: expected OLD=NEW"),
        (["SRC", "--path-map", "C:/a=/b"], "needs --catalog"),
    ],
)
def test_wrong_path_maps_fail_with_one_line(tmp_path, args, message):
    catalog, lib = _windows_catalog(tmp_path)
    names = {"CAT": str(catalog), "SRC": str(lib)}
    result = run_cli("scan", *[names.get(a, a) for a in args], "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    (error,) = [line for line in result.stderr.splitlines() if "error:" in line]
    assert message in error


def test_cli_prints_the_hint_and_takes_path_maps(tmp_path):
    catalog, lib = _windows_catalog(tmp_path)
    out = tmp_path / "out"
    result = run_cli("scan", "--catalog", str(catalog), "--out", str(out), "--workers", "1")
    assert result.returncode == 0, result.stderr
    assert "hint: 2 photo(s) of cat.lrcat" in result.stdout
    mapping = f"C:/Users/me/Pictures={lib}"
    result = run_cli("scan", "--catalog", str(catalog), "--path-map", mapping, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "samples: 2 (lrcat 2)" in result.stdout
    assert "hint:" not in result.stdout
