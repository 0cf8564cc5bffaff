"""Catalogs, darktable sidecars and the real fixture files, scanned end to end."""

from __future__ import annotations

import shutil
import sqlite3

import numpy as np
import pytest
from PIL import Image

from cropperhead.geometry import Crop, crop_stored_to_display, crop_to_corners
from cropperhead.metadata import darktable
from cropperhead.scan import scan_library
from tests.metadata.lrcat_builder import CatalogBuilder, develop_text
from tests.scan.library import (
    PLAIN,
    TURNED6,
    H,
    W,
    by_source,
    check_label,
    make_photo,
    read_lines,
    snapshot,
    xmp_packet,
)


def outputs(out):
    return by_source(read_lines(out / "manifest.jsonl")), by_source(
        read_lines(out / "skipped.jsonl")
    )


# --------------------------------------------------------------------------- catalogs


def build_catalog(tmp_path, lib):
    """p1 (BC = orientation 6) + a virtual copy, p2 with a stale sidecar, p3 gone, p4 no row."""
    p1 = make_photo(lib / "p1.jpg", orientation=1)
    p2 = make_photo(lib / "p2.jpg")
    (lib / "p2.xmp").write_bytes(xmp_packet(PLAIN))  # stale: the catalog says otherwise
    p4 = make_photo(lib / "sub" / "p4.jpg")
    (lib / "sub" / "p4.xmp").write_bytes(xmp_packet(PLAIN))
    copy_crop = Crop(0.2, 0.2, 0.7, 0.8, 0)
    with CatalogBuilder(tmp_path / "Lightroom Catalog.lrcat") as cat:
        master = cat.add_photo(
            str(p1), width=W, height=H, orientation="BC", develop=develop_text(crop=TURNED6)
        )
        cat.add_virtual_copy(master, "Copy 1", develop=develop_text(crop=copy_crop))
        cat.add_virtual_copy(master, "Copy 2")  # uncropped
        cat.add_photo(str(p2), width=W, height=H, develop=develop_text(crop=TURNED6))
        cat.add_photo(str(lib / "gone" / "p3.jpg"), width=W, height=H)
        cat.add_photo(str(p4), width=W, height=H, develop=None)
    return cat.path, copy_crop


def test_catalog_rows_copies_missing_files_and_precedence(tmp_path):
    lib, out = tmp_path / "lib", tmp_path / "out"
    catalog, copy_crop = build_catalog(tmp_path, lib)
    before = snapshot(tmp_path)
    summary = scan_library([], out, catalogs=[catalog], workers=1, progress=False)
    samples, skipped = outputs(out)
    # The master and its cropped virtual copy are two samples, both in orientation 6.
    assert sorted(s["origin"] for s in samples["p1.jpg"]) == ["lrcat", "lrcat"]
    labels = sorted(samples["p1.jpg"], key=lambda s: s["crop"]["left"])
    check_label(labels[0], TURNED6, W, H, 6)
    check_label(labels[1], copy_crop, W, H, 6)
    assert labels[0]["image"] != labels[1]["image"]
    assert [r["reason"] for r in skipped["p1.jpg"]] == ["uncropped"]
    assert "Copy 2" in skipped["p1.jpg"][0]["detail"]
    # The catalog beats the stale sidecar.
    assert samples["p2.jpg"][0]["origin"] == "lrcat"
    check_label(samples["p2.jpg"][0], TURNED6, W, H, 1)
    # A row whose file is gone.
    assert skipped["p3.jpg"][0]["reason"] == "missing-file"
    assert skipped["p3.jpg"][0]["source"] == str(lib / "gone" / "p3.jpg")
    # A catalog row without develop settings falls back to the photo's own sidecar.
    assert samples["p4.jpg"][0]["origin"] == "xmp-sidecar"
    assert summary.samples_by_origin == {"lrcat": 3, "xmp-sidecar": 1}
    # The catalog and the photos were only read.
    new = snapshot(tmp_path)
    assert {k: v for k, v in new.items() if not k.startswith("out/")} == before


def test_catalog_edit_relabels_and_catalog_label_survives_plain_walks(tmp_path):
    lib, out = tmp_path / "lib", tmp_path / "out"
    catalog, _ = build_catalog(tmp_path, lib)
    scan_library([lib], out, catalogs=[catalog], workers=1, progress=False)
    # A walk without the catalog keeps the catalog's labels (the catalog stays the truth).
    summary = scan_library([lib], out, workers=1, progress=False)
    samples, _ = outputs(out)
    assert samples["p2.jpg"][0]["origin"] == "lrcat"
    assert summary.decoded == 0
    # Edit p2's develop settings in the catalog: only p2 is decoded again, with its new crop.
    new_crop = Crop(0.3, 0.1, 0.9, 0.6, 0)
    with sqlite3.connect(catalog) as conn:
        conn.execute(
            "UPDATE Adobe_imageDevelopSettings SET text = ? WHERE image = ("
            "SELECT i.id_local FROM Adobe_images i JOIN AgLibraryFile f ON i.rootFile = f.id_local"
            " WHERE f.baseName = 'p2')",
            (develop_text(crop=new_crop),),
        )
    conn.close()
    summary = scan_library([], out, catalogs=[catalog], workers=1, progress=False)
    assert (summary.decoded, summary.updated) == (1, 1)
    samples, _ = outputs(out)
    check_label(samples["p2.jpg"][0], new_crop, W, H, 1)
    assert len(samples["p1.jpg"]) == 2


def test_not_a_catalog_is_an_argument_error(tmp_path):
    from cropperhead.scan import ScanError

    fake = tmp_path / "fake.lrcat"
    fake.write_text("not sqlite")
    with pytest.raises(ScanError, match="fake.lrcat"):
        scan_library([], tmp_path / "out", catalogs=[fake], workers=1)
    assert not (tmp_path / "out" / "manifest.jsonl").exists()


# --------------------------------------------------------------------------- darktable


@pytest.mark.parametrize(
    ("fixture", "orientation"),
    [
        ("highlight-opposed.xmp", 1),
        ("highlight-opposed.xmp", 6),
        ("multiple-modules.xmp", 1),
        ("overlay-modules-before-after.xmp", 3),
        ("almost-all.xmp", 1),
        ("croprotate-keystone.xmp", 1),
    ],
)
def test_darktable_sidecars(tmp_path, shared_fixtures, fixture, orientation):
    lib, out = tmp_path / "lib", tmp_path / "out"
    make_photo(lib / "mire1.jpg", size=(96, 64), orientation=orientation)
    packet = (shared_fixtures / "darktable" / fixture).read_bytes()
    (lib / "mire1.jpg.xmp").write_bytes(packet)
    scan_library([lib], out, workers=1, progress=False)
    samples, skipped = outputs(out)
    assert not skipped, skipped
    (line,) = samples["mire1.jpg"]
    assert line["origin"] == "darktable"
    expected = darktable.read_darktable_settings(
        packet, image_size=(96, 64), orientation=orientation
    )
    display = expected.orientation or orientation
    if expected.crop_frame == "stored":
        check_label(line, expected.crop, 96, 64, display)
    else:
        dw, dh = (96, 64) if display < 5 else (64, 96)
        assert (line["width"], line["height"]) == (dw, dh)
        np.testing.assert_allclose(
            Crop.from_dict(line["crop"]).as_array(), expected.crop.as_array(), atol=1e-6
        )
        np.testing.assert_allclose(
            line["corners"], crop_to_corners(expected.crop, dw, dh) / [dw, dh], atol=1e-6
        )
    assert Image.open(out / line["image"]).size == (line["width"], line["height"])


def test_darktable_orientation_only_history_is_not_a_crop(tmp_path, shared_fixtures):
    lib, out = tmp_path / "lib", tmp_path / "out"
    make_photo(lib / "mire1.jpg", size=(96, 64))
    shutil.copy(shared_fixtures / "darktable" / "orientation-minus-90.xmp", lib / "mire1.jpg.xmp")
    scan_library([lib], out, workers=1, progress=False)
    _, skipped = outputs(out)
    assert skipped["mire1.jpg"][0]["reason"] == "uncropped"
    scan_library([lib], out, workers=1, progress=False, include_uncropped=True)
    samples, _ = outputs(out)
    line = samples["mire1.jpg"][0]
    # darktable's own flip (a quarter turn) decides the display frame.
    assert (line["width"], line["height"]) == (64, 96)
    assert line["crop"] == {"left": 0.0, "top": 0.0, "right": 1.0, "bottom": 1.0, "angle": 0.0}


# --------------------------------------------------------------------------- real fixtures


EXPECTED_SKIPS = {
    "sidecar/IMG_5910.jpg": "crop-already-applied",
    "jpeg/IMG_6455.jpg": "crop-already-applied",
    "jpeg/IMG_8751.jpg": "crop-already-applied",
    "jpeg/IMG_8824.jpg": "crop-already-applied",
    "jpeg/IMG_8943.jpg": "crop-already-applied",
    "jpeg/IMG_9516.jpg": "crop-already-applied",
    "jpeg/JPEG.jpg": "crop-already-applied",
    "jpeg/canon_eos-1d_mark_iii_via_lightroom.jpg": "crop-already-applied",
    "jpeg/chameleon_lime.jpg": "crop-already-applied",
    "jpeg/ladybug.jpg": "crop-already-applied",
    # Exports without a crop (HasCrop False, AlreadyApplied True): never samples.
    "jpeg/wild-1.jpg": "crop-already-applied",
    "jpeg/wild-3.jpg": "crop-already-applied",
    "tiff/tif-with-iptc-icc-xmp.tif": "crop-already-applied",
    "raw/canon_eos_6d.dng": "uncropped",
    "raw/test.dng": "no-metadata",
    "odd/RESULT-OK_0008.jp2": "unsupported",
    # Stand-alone sidecars whose photos are not included.
    "xmp/IMG_5910.jpg.xmp": "missing-file",
    "xmp/XMP.xmp": "missing-file",
    "xmp/canon_eos_6d.xmp": "missing-file",
    "xmp/flatxmp.xmp": "missing-file",
    "xmp/ladybug.xmp": "missing-file",
    "darktable/almost-all.xmp": "missing-file",
    "darktable/croprotate-keystone.xmp": "missing-file",
    "darktable/highlight-opposed.xmp": "missing-file",
    "darktable/multiple-modules.xmp": "missing-file",
    "darktable/orientation-minus-90.xmp": "missing-file",
    "darktable/overlay-modules-before-after.xmp": "missing-file",
}


def test_real_fixtures_folder(tmp_path, shared_fixtures):
    lib, out = tmp_path / "fixtures", tmp_path / "out"
    shutil.copytree(shared_fixtures, lib)
    before = snapshot(lib)
    summary = scan_library([lib], out, workers=1, progress=False)
    (line,) = read_lines(out / "manifest.jsonl")
    assert line["source"] == str((lib / "sidecar" / "testimagedesc1.jpg").resolve())
    assert line["origin"] == "xmp-sidecar"
    assert (line["width"], line["height"]) == (14, 10)
    expected = Crop(0.140541, 0, 1, 0.859459, 0)
    np.testing.assert_allclose(Crop.from_dict(line["crop"]).as_array(), expected.as_array())
    np.testing.assert_allclose(line["corners"], crop_to_corners(expected, 14, 10) / [14, 10])
    assert Image.open(out / line["image"]).size == (14, 10)
    got = {
        str(__import__("pathlib").Path(r["source"]).relative_to(lib.resolve())): r["reason"]
        for r in read_lines(out / "skipped.jsonl")
    }
    assert got == EXPECTED_SKIPS
    assert summary.samples == 1
    assert summary.skipped == len(EXPECTED_SKIPS)
    assert snapshot(lib) == before


def test_real_fixtures_include_uncropped(tmp_path, shared_fixtures):
    lib, out = tmp_path / "fixtures", tmp_path / "out"
    shutil.copytree(shared_fixtures, lib)
    scan_library([lib], out, workers=1, progress=False, include_uncropped=True)
    samples, skipped = outputs(out)
    dng = samples["canon_eos_6d.dng"][0]
    assert dng["origin"] == "xmp-embedded"
    assert dng["crop"] == {"left": 0.0, "top": 0.0, "right": 1.0, "bottom": 1.0, "angle": 0.0}
    assert abs(dng["width"] - 1224) <= 6
    assert abs(dng["height"] - 816) <= 4
    assert "wild-1.jpg" not in samples
    assert skipped["wild-1.jpg"][0]["reason"] == ("crop-already-applied")
    assert sorted(samples) == ["canon_eos_6d.dng", "testimagedesc1.jpg"]


def test_real_catalogs_rows_point_at_missing_files(tmp_path, shared_fixtures):
    cats = tmp_path / "lrcat"
    shutil.copytree(shared_fixtures / "lrcat", cats)
    before = snapshot(cats)
    catalogs = [cats / "test_catalog_1.lrcat", cats / "LITA_Lightroom_Catalog.lrcat"]
    summary = scan_library([], tmp_path / "out", catalogs=catalogs, workers=1, progress=False)
    assert summary.samples == 0
    assert summary.skipped_by_reason == {"missing-file": 5}
    after = snapshot(cats)
    assert {k: v[0] for k, v in after.items()} == {k: v[0] for k, v in before.items()}
    # SQLite itself touches the WAL index (-shm) of a WAL catalog that it reads; the
    # catalog and its -wal file keep their mtimes.
    assert {k: v for k, v in after.items() if not k.endswith("-shm")} == {
        k: v for k, v in before.items() if not k.endswith("-shm")
    }


def test_stored_crop_helper_sanity():
    # check_label's own reference: orientation 1 leaves a crop as it is.
    np.testing.assert_allclose(
        crop_stored_to_display(TURNED6, W, H, 1).as_array(), TURNED6.as_array(), atol=1e-12
    )


def test_prune_drops_photos_a_catalog_no_longer_lists(tmp_path):
    lib, out = tmp_path / "lib", tmp_path / "out"
    photos = [make_photo(lib / f"p{i}.jpg") for i in range(2)]
    path = tmp_path / "cat.lrcat"

    def build(listed):
        path.unlink(missing_ok=True)
        with CatalogBuilder(path) as cat:
            for photo in listed:
                cat.add_photo(str(photo), width=W, height=H, develop=develop_text(crop=PLAIN))

    build(photos)
    scan_library([], out, catalogs=[path], workers=1, progress=False)
    assert len(read_lines(out / "manifest.jsonl")) == 2
    build(photos[1:])
    scan_library([], out, catalogs=[path], workers=1, progress=False)
    assert len(read_lines(out / "manifest.jsonl")) == 2
    summary = scan_library([], out, catalogs=[path], workers=1, progress=False, prune=True)
    assert summary.pruned == 1
    (line,) = read_lines(out / "manifest.jsonl")
    assert line["source"].endswith("p1.jpg")
