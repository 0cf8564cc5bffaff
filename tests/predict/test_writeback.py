import json
import os
import shutil
import subprocess

import numpy as np
import pytest

from cropperhead.geometry import (
    ORIENTATIONS,
    Crop,
    crop_stored_to_display,
    display_size,
    largest_crop,
)
from cropperhead.metadata import xmp
from cropperhead.metadata.xmp import CRS_NS, TIFF_NS, read_sidecar, read_xmp_properties
from cropperhead.predict.sidecars import sidecar_targets
from cropperhead.predict.writeback import (
    ALREADY_APPLIED,
    BAD_METADATA,
    DARKTABLE_HISTORY,
    KEPT,
    SIDECAR_CONFLICT,
    SKIPPED,
    UNCHANGED,
    WOULD_WRITE,
    WRITTEN,
    crop_to_xmp,
    made_by_cropperhead,
    write_crop,
)
from tests.predict.conftest import write_photo

EXIFTOOL = shutil.which("exiftool")
needs_exiftool = pytest.mark.skipif(EXIFTOOL is None, reason="exiftool is not installed")
CROP_NAMES = {"HasCrop", "CropLeft", "CropTop", "CropRight", "CropBottom", "CropAngle"}
#: A turned display-frame crop of a 96 x 64 picture.
TURNED = largest_crop(96, 64, 1.3, 4.0, (50, 30))


def _stored_values(path):
    props = read_xmp_properties(path.read_bytes())
    return {k[1]: v for k, v in props.items() if k[0] == CRS_NS and k[1] in CROP_NAMES}


def _exiftool_crop(path):
    out = subprocess.run(
        [EXIFTOOL, "-j", "-n", "-XMP-crs:all", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)[0]


# --------------------------------------------------------------------------- targets


def test_targets_for_a_raw_a_lone_jpeg_and_a_raw_plus_jpeg_pair(tmp_path):
    for name in ("IMG_1.CR2", "IMG_1.JPG", "IMG_2.JPG", "IMG_3.NEF", "IMG_4.jpg", "IMG_4.tif"):
        (tmp_path / name).write_bytes(b"x")
    assert sidecar_targets(tmp_path / "IMG_1.CR2") == [tmp_path / "IMG_1.xmp"]
    # The stem sidecar is the RAW's; the JPEG beside it gets its own.
    assert sidecar_targets(tmp_path / "IMG_1.JPG") == [tmp_path / "IMG_1.JPG.xmp"]
    assert sidecar_targets(tmp_path / "IMG_2.JPG") == [tmp_path / "IMG_2.xmp"]
    assert sidecar_targets(tmp_path / "IMG_3.NEF", "name") == [tmp_path / "IMG_3.NEF.xmp"]
    assert sidecar_targets(tmp_path / "IMG_3.NEF", "both") == [
        tmp_path / "IMG_3.xmp",
        tmp_path / "IMG_3.NEF.xmp",
    ]
    # Two non-raw photos of one stem never share a sidecar.
    assert sidecar_targets(tmp_path / "IMG_4.jpg") == [tmp_path / "IMG_4.jpg.xmp"]
    with pytest.raises(ValueError, match="also the sidecar of IMG_1.CR2"):
        sidecar_targets(tmp_path / "IMG_1.JPG", "stem")
    with pytest.raises(ValueError, match="xmp_target"):
        sidecar_targets(tmp_path / "IMG_2.JPG", "darktable")


def test_an_existing_sidecar_in_upper_case_is_edited_in_place(tmp_path):
    (tmp_path / "IMG_5.CR2").write_bytes(b"x")
    (tmp_path / "IMG_5.XMP").write_bytes(xmp.merge_crop_into_xmp(None, Crop(0, 0, 1, 1, 0)))
    assert sidecar_targets(tmp_path / "IMG_5.CR2") == [tmp_path / "IMG_5.XMP"]


# --------------------------------------------------------------------------- geometry


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_written_crop_is_the_exact_inverse_of_what_the_scan_reads(orientation):
    width, height = 96, 64  # display frame
    stored = crop_to_xmp(TURNED, width, height, orientation)
    sw, sh = display_size(width, height, orientation)
    back = crop_stored_to_display(stored, sw, sh, orientation)
    np.testing.assert_allclose(back.as_array(), TURNED.as_array(), atol=1e-9)
    # After Lightroom's six decimals, still within 1e-6.
    rounded = Crop(*(float(xmp.format_xmp_number(v)) for v in stored.as_array()))
    back6 = crop_stored_to_display(rounded, sw, sh, orientation)
    np.testing.assert_allclose(back6.as_array(), TURNED.as_array(), atol=2e-6)


# --------------------------------------------------------------------------- writing


def test_a_photo_without_sidecar_gets_a_new_valid_one_and_the_image_is_untouched(tmp_path):
    photo = write_photo(tmp_path / "new.jpg", (64, 96), 1, orientation=6)
    before = photo.read_bytes()
    result = write_crop(photo, TURNED, 96, 64, 6)
    assert result.action == WRITTEN
    assert result.targets == (tmp_path / "new.xmp",)
    assert result.backups == ()
    assert photo.read_bytes() == before
    settings = read_sidecar(tmp_path / "new.xmp")
    assert settings.has_crop
    assert not settings.already_applied
    np.testing.assert_allclose(settings.crop.as_array(), result.crop_stored.as_array(), atol=1e-6)
    shown = crop_stored_to_display(settings.crop, 64, 96, 6)
    np.testing.assert_allclose(shown.as_array(), TURNED.as_array(), atol=2e-6)
    # Writing the same crop again changes nothing.
    assert write_crop(photo, TURNED, 96, 64, 6).action == UNCHANGED


def test_an_earlier_prediction_is_replaced_but_not_once_an_editor_saved_it(tmp_path):
    photo = write_photo(tmp_path / "again.jpg", (96, 64), 6)
    sidecar = tmp_path / "again.xmp"
    assert write_crop(photo, TURNED, 96, 64, 1).action == WRITTEN
    assert made_by_cropperhead(sidecar.read_bytes())
    second = Crop(0.1, 0.1, 0.9, 0.9, 0.0)
    result = write_crop(photo, second, 96, 64, 1)
    assert result.action == WRITTEN
    assert result.backups == (tmp_path / "again.xmp.bak",)
    assert read_sidecar(sidecar).crop == second
    # Lightroom saved the file: now the crop is the photographer's.
    sidecar.write_bytes(sidecar.read_bytes().replace(b"CropperHead", b"Adobe XMP Core 7.0"))
    assert not made_by_cropperhead(sidecar.read_bytes())
    assert write_crop(photo, TURNED, 96, 64, 1).action == KEPT


@needs_exiftool
def test_exiftool_reads_the_new_sidecar(tmp_path):
    photo = write_photo(tmp_path / "x.jpg", (96, 64), 2)
    result = write_crop(photo, TURNED, 96, 64, 1)
    got = _exiftool_crop(result.targets[0])
    assert got["HasCrop"] is True
    for name, value in zip(
        ("CropLeft", "CropTop", "CropRight", "CropBottom", "CropAngle"),
        result.crop_stored.as_array(),
        strict=True,
    ):
        assert got[name] == pytest.approx(value, abs=1e-6)


@pytest.fixture
def lightroom_pair(shared_fixtures, tmp_path):
    """testimagedesc1.jpg + .xmp: a live (AlreadyApplied False) Lightroom crop, 14 x 10."""
    for name in ("testimagedesc1.jpg", "testimagedesc1.xmp"):
        shutil.copyfile(shared_fixtures / "sidecar" / name, tmp_path / name)
    return tmp_path / "testimagedesc1.jpg", tmp_path / "testimagedesc1.xmp"


def test_the_photographers_crop_is_kept_without_overwrite(lightroom_pair):
    photo, sidecar = lightroom_pair
    before = sidecar.read_bytes(), photo.read_bytes()
    result = write_crop(photo, Crop(0.1, 0.1, 0.9, 0.9, 2.0), 14, 10, 1)
    assert result.action == KEPT
    assert result.old_source == sidecar
    np.testing.assert_allclose(result.old_crop.as_array(), [0.140541, 0, 1, 0.859459, 0], atol=1e-9)
    assert (sidecar.read_bytes(), photo.read_bytes()) == before
    assert not sidecar.with_name(sidecar.name + ".bak").exists()


def test_overwrite_changes_only_the_crop_values(lightroom_pair):
    photo, sidecar = lightroom_pair
    old_sidecar, old_photo = sidecar.read_bytes(), photo.read_bytes()
    new = Crop(0.05, 0.1, 0.9, 0.95, 1.5)
    result = write_crop(photo, new, 14, 10, 1, overwrite=True)
    assert result.action == WRITTEN
    assert result.targets == (sidecar,)
    # Merged, not clobbered: every other property identical; a backup of the original.
    old_props, new_props = (
        read_xmp_properties(old_sidecar),
        read_xmp_properties(sidecar.read_bytes()),
    )
    crop_keys = {(CRS_NS, n) for n in CROP_NAMES}
    # The sidecar had no frame: the photo's (stored size, orientation) is added for darktable.
    frame = {(TIFF_NS, "ImageWidth"): "14", (TIFF_NS, "ImageLength"): "10"}
    frame[(TIFF_NS, "Orientation")] = "1"
    assert not set(frame) & set(old_props)
    assert {k: new_props[k] for k in frame} == frame
    assert {k: v for k, v in old_props.items() if k not in crop_keys} == {
        k: v for k, v in new_props.items() if k not in crop_keys and k not in frame
    }
    assert result.backups == (sidecar.with_name("testimagedesc1.xmp.bak"),)
    assert result.backups[0].read_bytes() == old_sidecar
    # Only lines holding crop values changed.
    changed = [
        (a, b)
        for a, b in zip(old_sidecar.splitlines(), sidecar.read_bytes().splitlines(), strict=True)
        if a != b
    ]
    assert changed
    assert all(b"crs:Crop" in a for a, _ in changed)
    assert photo.read_bytes() == old_photo
    settings = read_sidecar(sidecar)
    np.testing.assert_allclose(settings.crop.as_array(), new.as_array(), atol=1e-6)


@needs_exiftool
def test_exiftool_reads_the_merged_sidecar(lightroom_pair):
    photo, sidecar = lightroom_pair
    before = _exiftool_crop(sidecar)
    new = Crop(0.05, 0.1, 0.9, 0.95, 1.5)
    write_crop(photo, new, 14, 10, 1, overwrite=True)
    after = _exiftool_crop(sidecar)
    for name, value in zip(
        ("CropLeft", "CropTop", "CropRight", "CropBottom", "CropAngle"), new.as_array(), strict=True
    ):
        assert after[name] == pytest.approx(value, abs=1e-6)
    assert {k: v for k, v in after.items() if not k.startswith("Crop")} == {
        k: v for k, v in before.items() if not k.startswith("Crop")
    }


def test_the_embedded_crop_of_a_jpeg_counts_as_the_photographers(lightroom_pair):
    photo, sidecar = lightroom_pair
    sidecar.unlink()
    result = write_crop(photo, Crop(0.1, 0.1, 0.9, 0.9, 0.0), 14, 10, 1)
    assert result.action == KEPT
    assert result.old_source == photo
    assert not sidecar.exists()


def test_dry_run_reports_and_writes_nothing(lightroom_pair):
    photo, sidecar = lightroom_pair
    before = sidecar.read_bytes()
    result = write_crop(
        photo, Crop(0.1, 0.1, 0.9, 0.9, 0.0), 14, 10, 1, overwrite=True, dry_run=True
    )
    assert result.action == WOULD_WRITE
    line = result.describe()
    assert "testimagedesc1.xmp" in line
    assert "->" in line
    assert "would write" in line
    assert "left 0.1405" in line  # the old crop
    assert sidecar.read_bytes() == before
    assert sorted(p.name for p in sidecar.parent.iterdir()) == [
        "testimagedesc1.jpg",
        "testimagedesc1.xmp",
    ]


def test_an_exported_picture_sidecar_is_not_written(shared_fixtures, tmp_path):
    for name in ("IMG_5910.jpg", "IMG_5910.xmp"):
        shutil.copyfile(shared_fixtures / "sidecar" / name, tmp_path / name)
    sidecar = tmp_path / "IMG_5910.xmp"
    before = sidecar.read_bytes()
    result = write_crop(
        tmp_path / "IMG_5910.jpg", Crop(0, 0, 1, 1, 0), 1394, 930, 1, overwrite=True
    )
    assert result.action == SKIPPED
    assert result.reason == ALREADY_APPLIED
    assert sidecar.read_bytes() == before


def test_unreadable_metadata_is_left_alone(tmp_path):
    photo = write_photo(tmp_path / "m.jpg", (96, 64), 3)
    sidecar = tmp_path / "m.xmp"
    sidecar.write_bytes(b"<x:xmpmeta><rdf:RDF>broken")
    for overwrite in (False, True):
        result = write_crop(photo, TURNED, 96, 64, 1, overwrite=overwrite)
        assert result.action == SKIPPED
        assert result.reason == BAD_METADATA
    assert sidecar.read_bytes() == b"<x:xmpmeta><rdf:RDF>broken"


def test_a_jpeg_beside_a_raw_never_touches_the_raw_sidecar(tmp_path):
    raw_sidecar = tmp_path / "IMG_7.xmp"
    raw_sidecar.write_bytes(xmp.merge_crop_into_xmp(None, Crop(0.2, 0.2, 0.8, 0.8, 0)))
    (tmp_path / "IMG_7.CR2").write_bytes(b"raw")
    photo = write_photo(tmp_path / "IMG_7.JPG", (96, 64), 4)
    result = write_crop(photo, TURNED, 96, 64, 1)
    assert result.action == WRITTEN
    assert result.targets == (tmp_path / "IMG_7.JPG.xmp",)
    assert read_sidecar(raw_sidecar).crop == Crop(0.2, 0.2, 0.8, 0.8, 0)
    refused = write_crop(photo, TURNED, 96, 64, 1, target="stem")
    assert refused.action == SKIPPED
    assert refused.reason == SIDECAR_CONFLICT


def test_other_develop_settings_survive(shared_fixtures, tmp_path):
    """A Camera Raw sidecar with settings but no crop (HasCrop False) gets the crop merged in."""
    photo = write_photo(tmp_path / "flat.jpg", (96, 64), 5)
    sidecar = tmp_path / "flat.xmp"
    shutil.copyfile(shared_fixtures / "xmp" / "canon_eos_6d.xmp", sidecar)
    before = read_xmp_properties(sidecar.read_bytes())
    result = write_crop(photo, TURNED, 96, 64, 1)
    assert result.action == WRITTEN
    after = read_xmp_properties(sidecar.read_bytes())
    crop_keys = {(CRS_NS, n) for n in CROP_NAMES}
    assert {k: v for k, v in before.items() if k not in crop_keys} == {
        k: v for k, v in after.items() if k not in crop_keys
    }
    assert _stored_values(sidecar)["HasCrop"] == "True"


# --------------------------------------------------------------------------- links, FIFOs


def test_a_sidecar_link_out_of_the_photo_folder_is_never_written(tmp_path):
    from cropperhead.predict.writeback import SIDECAR_LINK

    photos, elsewhere = tmp_path / "photos", tmp_path / "elsewhere"
    elsewhere.mkdir()
    photo = write_photo(photos / "IMG.jpg", (96, 64), 1)
    # A dangling link: writing would create /elsewhere/created.desktop.
    (photos / "IMG.xmp").symlink_to(elsewhere / "created.desktop")
    result = write_crop(photo, TURNED, 96, 64, 1, overwrite=True)
    assert (result.action, result.reason) == (SKIPPED, SIDECAR_LINK)
    assert not (elsewhere / "created.desktop").exists()
    # A link to an existing XMP file elsewhere: it would be rewritten (and a .bak made).
    (photos / "IMG.xmp").unlink()
    other = elsewhere / "other.xmp"
    other.write_bytes(xmp.merge_crop_into_xmp(None, Crop(0.1, 0.1, 0.9, 0.9, 0)))
    before = other.read_bytes()
    (photos / "IMG.xmp").symlink_to(other)
    result = write_crop(photo, TURNED, 96, 64, 1, overwrite=True)
    assert (result.action, result.reason) == (SKIPPED, SIDECAR_LINK)
    assert other.read_bytes() == before
    assert sorted(p.name for p in elsewhere.iterdir()) == ["other.xmp"]
    assert (photos / "IMG.xmp").is_symlink()


def test_a_sidecar_link_inside_the_photo_folder_is_followed(tmp_path):
    photo = write_photo(tmp_path / "IMG.jpg", (96, 64), 1)
    real = tmp_path / "edits.xmp"
    real.write_bytes(xmp.merge_crop_into_xmp(None, Crop(0.1, 0.1, 0.9, 0.9, 0)))
    (tmp_path / "IMG.xmp").symlink_to(real.name)
    result = write_crop(photo, TURNED, 96, 64, 1, overwrite=True)
    assert result.action == WRITTEN
    assert (tmp_path / "IMG.xmp").is_symlink()
    settings = read_sidecar(real)
    got = crop_stored_to_display(settings.crop, 96, 64, 1)
    assert np.allclose(got.as_array(), TURNED.as_array(), atol=1e-5)
    assert (tmp_path / "edits.xmp.bak").is_file()


def test_a_fifo_sidecar_never_blocks(tmp_path):
    photo = write_photo(tmp_path / "IMG.jpg", (96, 64), 1)
    os.mkfifo(tmp_path / "IMG.xmp")
    for kw in ({"dry_run": True}, {"overwrite": True}, {}):
        result = write_crop(photo, TURNED, 96, 64, 1, **kw)  # would hang before
        assert (result.action, result.reason) == (SKIPPED, BAD_METADATA), kw
    assert (tmp_path / "IMG.xmp").is_fifo()


def test_a_killed_write_leaves_a_temporary_that_the_next_one_removes(tmp_path):
    from cropperhead.files import temp_path

    photo = write_photo(tmp_path / "IMG.jpg", (96, 64), 1)
    left = temp_path(tmp_path / "IMG.xmp")
    left = left.with_name(left.name.replace(f"-{os.getpid()}-", "-0-"))  # a dead PID
    left.write_bytes(b"<x:xmpmeta")
    users = tmp_path / ".IMG.xmp.mine.tmp"
    users.write_bytes(b"mine")
    assert write_crop(photo, TURNED, 96, 64, 1).action == WRITTEN
    assert not left.exists()
    assert users.read_bytes() == b"mine"


def test_write_back_touches_nothing_but_the_sidecar_and_its_backup(tmp_path):
    from tests.helpers import assert_untouched, plant_user_files

    photo = write_photo(tmp_path / "IMG_1.jpg", (96, 64), 1)
    raw = tmp_path / "IMG_2.CR2"
    raw.write_bytes(b"raw bytes")
    (tmp_path / "IMG_2.xmp").write_bytes(xmp.merge_crop_into_xmp(None, Crop(0.1, 0.1, 0.9, 0.9, 0)))
    planted = {p: p.read_bytes() for p in tmp_path.iterdir() if p.is_file() and p.suffix != ".xmp"}
    planted |= plant_user_files(tmp_path / "library") | plant_user_files(tmp_path / "sub")
    before = set(tmp_path.iterdir())
    assert write_crop(photo, TURNED, 96, 64, 1).action == WRITTEN
    assert write_crop(photo, Crop(0.2, 0.2, 0.8, 0.8, 0), 96, 64, 1, overwrite=True).action == (
        WRITTEN
    )
    assert_untouched(planted)
    assert set(tmp_path.iterdir()) - before == {tmp_path / "IMG_1.xmp", tmp_path / "IMG_1.xmp.bak"}


# --------------------------------------------------------------------------- one model, one file


def test_the_photos_frame_is_added_to_a_new_sidecar(tmp_path):
    photo = write_photo(tmp_path / "f.jpg", (64, 96), 1, orientation=6)
    result = write_crop(photo, TURNED, 96, 64, 6)
    props = read_xmp_properties((tmp_path / "f.xmp").read_bytes())
    assert {n: props[(TIFF_NS, n)] for n in ("ImageWidth", "ImageLength", "Orientation")} == {
        "ImageWidth": "64",  # the stored frame, as Lightroom writes it
        "ImageLength": "96",
        "Orientation": "6",
    }
    assert result.detail == ""
    assert made_by_cropperhead((tmp_path / "f.xmp").read_bytes())  # still a prediction


def test_a_sidecar_that_states_another_frame_keeps_it_and_says_so(shared_fixtures, tmp_path):
    photo = write_photo(tmp_path / "flat.jpg", (96, 64), 5)
    sidecar = tmp_path / "flat.xmp"
    shutil.copyfile(shared_fixtures / "xmp" / "canon_eos_6d.xmp", sidecar)  # 1224 x 816
    result = write_crop(photo, TURNED, 96, 64, 1)
    assert result.action == WRITTEN
    assert "tiff:ImageWidth/ImageLength say 1224 x 816" in result.detail
    assert "left as it is" in result.describe()
    props = read_xmp_properties(sidecar.read_bytes())
    assert props[(TIFF_NS, "ImageWidth")] == "1224"


def test_a_dng_whose_crop_lives_in_its_name_sidecar_is_edited_in_place(tmp_path):
    """The bug of issue 13: a second IMG.xmp appeared beside IMG.dng.xmp, saying otherwise."""
    photo = tmp_path / "IMG_8.dng"
    photo.write_bytes(b"not really a dng")
    sidecar = tmp_path / "IMG_8.dng.xmp"
    theirs = xmp.merge_crop_into_xmp(None, Crop(0.2, 0.2, 0.8, 0.8, 0)).replace(
        b"CropperHead", b"Adobe XMP Core 7.0"
    )
    sidecar.write_bytes(theirs)
    assert sidecar_targets(photo) == [sidecar]
    kept = write_crop(photo, TURNED, 96, 64, 1)
    assert (kept.action, kept.old_source) == (KEPT, sidecar)
    result = write_crop(photo, TURNED, 96, 64, 1, overwrite=True)
    assert result.action == WRITTEN
    assert result.targets == (sidecar,)
    assert not (tmp_path / "IMG_8.xmp").exists()
    assert result.backups[0].read_bytes() == theirs
    got = crop_stored_to_display(read_sidecar(sidecar).crop, 96, 64, 1)
    np.testing.assert_allclose(got.as_array(), TURNED.as_array(), atol=2e-6)


def _developed(**kw):
    from tests.metadata.darktable_builders import developed

    return developed(**kw)


@pytest.fixture
def darktable_photo(tmp_path):
    """A JPEG that darktable has developed (its own history in IMG.jpg.xmp), no crop yet."""
    photo = write_photo(tmp_path / "IMG.jpg", (96, 64), 7, orientation=1)
    sidecar = tmp_path / "IMG.jpg.xmp"
    sidecar.write_bytes(_developed())
    return photo, sidecar


def _darktable_crop(sidecar, orientation=1):
    from cropperhead.metadata.darktable import read_darktable_settings

    settings = read_darktable_settings(
        sidecar.read_bytes(), image_size=(96, 64), orientation=orientation
    )
    return settings.crop


def test_a_darktable_history_gets_the_suggestion(darktable_photo):
    from tests.helpers import assert_untouched, plant_user_files

    photo, sidecar = darktable_photo
    original = sidecar.read_bytes()
    image = photo.read_bytes()
    planted = plant_user_files(photo.parent / "around")
    dry = write_crop(photo, TURNED, 96, 64, 1, dry_run=True)
    assert dry.action == WOULD_WRITE
    assert sidecar.read_bytes() == original
    result = write_crop(photo, TURNED, 96, 64, 1)
    assert result.action == WRITTEN, result.describe()
    assert result.targets == (sidecar,)
    assert result.backups == (photo.parent / "IMG.jpg.xmp.bak",)
    assert result.backups[0].read_bytes() == original
    np.testing.assert_allclose(_darktable_crop(sidecar).as_array(), TURNED.as_array(), atol=1e-5)
    assert not (photo.parent / "IMG.xmp").exists()  # darktable would ignore it anyway
    assert photo.read_bytes() == image
    assert_untouched(planted)
    assert sorted(p.name for p in photo.parent.iterdir() if p.is_file()) == [
        "IMG.jpg",
        "IMG.jpg.xmp",
        "IMG.jpg.xmp.bak",
    ]
    # The same again: unchanged. Another suggestion: the earlier one was a prediction.
    assert write_crop(photo, TURNED, 96, 64, 1).action == UNCHANGED
    second = Crop(0.1, 0.15, 0.85, 0.9, -2.0)
    assert write_crop(photo, second, 96, 64, 1).action == WRITTEN
    np.testing.assert_allclose(_darktable_crop(sidecar).as_array(), second.as_array(), atol=1e-5)
    assert (photo.parent / "IMG.jpg.xmp.bak.1").is_file()


def test_the_photographers_darktable_crop_is_kept_like_the_scan_reads_it(darktable_photo):
    """Scan and write-back ask the same model: the darktable crop the scan trains on is kept."""
    from cropperhead.scan.photo import PhotoJob, ScanConfig, _Photo, _read_sidecar

    photo, sidecar = darktable_photo
    theirs = Crop(0.05, 0.1, 0.9, 0.95, 3.0)
    stored = crop_to_xmp(theirs, 96, 64, 1)
    from cropperhead.metadata.darktable import merge_crop_into_darktable

    sidecar.write_bytes(merge_crop_into_darktable(sidecar.read_bytes(), stored, (96, 64), 1))
    sidecar.write_bytes(sidecar.read_bytes().replace(b"\n", b"\r\n"))  # darktable saved it
    before = sidecar.read_bytes()
    job = PhotoJob(photo=photo, key="", sidecars=(_read_sidecar(sidecar),))
    scanned = _Photo(job, ScanConfig(out=photo.parent)).deciding
    assert scanned.origin == "darktable"
    np.testing.assert_allclose(scanned.crop.as_array(), theirs.as_array(), atol=1e-4)
    result = write_crop(photo, TURNED, 96, 64, 1)
    assert (result.action, result.old_source) == (KEPT, sidecar)
    np.testing.assert_allclose(result.old_crop.as_array(), theirs.as_array(), atol=1e-4)
    assert "darktable" in result.detail
    assert sidecar.read_bytes() == before
    replaced = write_crop(photo, TURNED, 96, 64, 1, overwrite=True)
    assert replaced.action == WRITTEN
    np.testing.assert_allclose(_darktable_crop(sidecar).as_array(), TURNED.as_array(), atol=1e-5)


def test_a_darktable_sidecar_not_developed_yet_leaves_the_crop_to_the_lightroom_one(tmp_path):
    photo = write_photo(tmp_path / "IMG.jpg", (96, 64), 7, orientation=1)
    sidecar = tmp_path / "IMG.jpg.xmp"
    sidecar.write_bytes(_developed(auto="0"))
    before = sidecar.read_bytes()
    result = write_crop(photo, TURNED, 96, 64, 1)
    assert result.action == WRITTEN
    assert result.targets == (tmp_path / "IMG.xmp",)  # what darktable imports
    refused = write_crop(photo, TURNED, 96, 64, 1, target="name", overwrite=True)
    assert (refused.action, refused.reason) == (SKIPPED, DARKTABLE_HISTORY)
    assert "not developed" in refused.detail
    assert sidecar.read_bytes() == before


def test_a_darktable_history_that_cannot_take_the_crop_is_left_alone(shared_fixtures, tmp_path):
    photo = write_photo(tmp_path / "IMG.jpg", (96, 64), 7, orientation=1)
    sidecar = tmp_path / "IMG.jpg.xmp"
    shutil.copyfile(shared_fixtures / "darktable" / "almost-all.xmp", sidecar)  # perspective
    before = sidecar.read_bytes()
    result = write_crop(photo, TURNED, 96, 64, 1, overwrite=True)
    assert (result.action, result.reason) == (SKIPPED, DARKTABLE_HISTORY)
    assert "perspective" in result.detail
    assert sidecar.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["IMG.jpg", "IMG.jpg.xmp"]


def test_both_targets_get_each_their_editors_form(darktable_photo):
    photo, sidecar = darktable_photo
    result = write_crop(photo, TURNED, 96, 64, 1, target="both")
    assert result.action == WRITTEN
    assert result.targets == (photo.parent / "IMG.xmp", sidecar)
    assert read_sidecar(photo.parent / "IMG.xmp").has_crop
    np.testing.assert_allclose(_darktable_crop(sidecar).as_array(), TURNED.as_array(), atol=1e-5)


def test_a_darktable_sidecar_link_out_of_the_folder_is_never_written(tmp_path):
    from cropperhead.predict.writeback import SIDECAR_LINK

    photos, elsewhere = tmp_path / "photos", tmp_path / "elsewhere"
    elsewhere.mkdir()
    photo = write_photo(photos / "IMG.jpg", (96, 64), 1)
    other = elsewhere / "history.xmp"
    other.write_bytes(_developed())
    before = other.read_bytes()
    (photos / "IMG.jpg.xmp").symlink_to(other)
    result = write_crop(photo, TURNED, 96, 64, 1, overwrite=True)
    assert (result.action, result.reason) == (SKIPPED, SIDECAR_LINK)
    assert other.read_bytes() == before
    assert sorted(p.name for p in elsewhere.iterdir()) == ["history.xmp"]
