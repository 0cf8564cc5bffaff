"""One photo's metadata places, their editors and decisions (metadata/photo.py)."""

from __future__ import annotations

import os
import shutil

import pytest

from cropperhead.geometry import Crop
from cropperhead.metadata import darktable, embedded, xmp
from cropperhead.metadata.photo import (
    EDITOR_ADOBE,
    EDITOR_DARKTABLE,
    EMBEDDED,
    SIDECAR,
    PhotoGeometry,
    PhotoMetadata,
    SidecarRead,
    made_by_cropperhead,
    read_sidecar_bytes,
)
from cropperhead.metadata.types import BAD_METADATA, UNREADABLE, UNSUPPORTED, SkipError
from tests.scan.library import make_photo, xmp_packet

LIVE = Crop(0.1, 0.2, 0.8, 0.9, 0)
#: The 3:2 frame the darktable fixtures were made on (only the aspect matters).
GEOMETRY = PhotoGeometry(3888, 2592, 1)


def lightroom(crop: Crop = LIVE, **kw) -> bytes:
    """A sidecar as Lightroom saves it: settings, a crop, an Adobe toolkit."""
    packet = xmp.merge_crop_into_xmp(xmp_packet(has_settings=True, **kw), crop)
    return packet.replace(b"CropperHead", b"Adobe XMP Core 7.0")


def test_the_deciding_sidecar_is_the_first_with_settings(tmp_path):
    photo = make_photo(tmp_path / "IMG_1.dng")
    (tmp_path / "IMG_1.xmp").write_bytes(xmp_packet(has_settings=False))  # keywords only
    (tmp_path / "IMG_1.dng.xmp").write_bytes(lightroom())
    meta = PhotoMetadata(photo)
    assert [p.path.name for p in meta.sidecars] == ["IMG_1.xmp", "IMG_1.dng.xmp"]
    assert meta.deciding.path == tmp_path / "IMG_1.dng.xmp"
    assert meta.deciding.editor == EDITOR_ADOBE
    assert meta.deciding.kind == SIDECAR
    assert meta.deciding.photographers_crop
    assert [p.path.name for p in meta.photographers_crops()] == ["IMG_1.dng.xmp"]


def test_a_darktable_history_is_darktables_and_read_with_the_photos_geometry(
    shared_fixtures, tmp_path
):
    photo = make_photo(tmp_path / "IMG_2.CR2")
    shutil.copyfile(
        shared_fixtures / "darktable" / "multiple-modules.xmp", tmp_path / "IMG_2.CR2.xmp"
    )
    calls = []

    def geometry():
        calls.append(1)
        return GEOMETRY

    meta = PhotoMetadata(photo, geometry=geometry)
    place = meta.deciding
    assert place.editor == EDITOR_DARKTABLE
    assert place.settings.origin == "darktable"
    assert place.settings.crop.angle == pytest.approx(1.0, abs=1e-3)  # clipping -1 degree
    assert place.live_crop
    assert place.darktable_developed
    assert not place.by_cropperhead
    assert place.photographers_crop
    assert meta.darktable_history() is place
    assert len(calls) == 1
    assert meta.xmp_orientation is None  # darktable's orientation is not XMP tiff's
    # Without the photo's size the turned crop cannot be read: said so, never guessed.
    blind = PhotoMetadata(photo).deciding
    assert blind.error.reason == UNSUPPORTED
    failing = PhotoMetadata(photo, geometry=lambda: SkipError(UNREADABLE, "cannot decode"))
    assert failing.deciding.error.detail == "cannot decode"


def test_a_cropperhead_prediction_is_not_the_photographers(tmp_path):
    photo = make_photo(tmp_path / "IMG_3.jpg")
    ours = xmp.merge_crop_into_xmp(None, Crop(0.1, 0.1, 0.9, 0.9, 2), image_size=(64, 48))
    assert made_by_cropperhead(ours)
    (tmp_path / "IMG_3.xmp").write_bytes(ours)
    place = PhotoMetadata(photo).deciding
    assert place.live_crop
    assert place.by_cropperhead
    assert not place.photographers_crop
    # Saved by an editor: the photographer's.
    (tmp_path / "IMG_3.xmp").write_bytes(ours.replace(b"CropperHead", b"Adobe XMP Core 7.0"))
    assert PhotoMetadata(photo).deciding.photographers_crop


def test_a_darktable_sidecar_cropperhead_wrote_is_a_prediction(tmp_path):
    from tests.metadata.darktable_builders import developed

    photo = make_photo(tmp_path / "IMG_4.jpg")
    merged = darktable.merge_crop_into_darktable(
        developed(), Crop(0.1, 0.1, 0.9, 0.9, 3.0), (400, 250), 1
    )
    (tmp_path / "IMG_4.jpg.xmp").write_bytes(merged)
    place = PhotoMetadata(photo, geometry=PhotoGeometry(400, 250, 1)).deciding
    assert place.editor == EDITOR_DARKTABLE
    assert place.live_crop
    assert place.by_cropperhead
    # darktable saved the file (re-serialised): the photographer's from now on.
    (tmp_path / "IMG_4.jpg.xmp").write_bytes(merged.replace(b"\n", b"\n "))
    assert not PhotoMetadata(photo, geometry=PhotoGeometry(400, 250, 1)).deciding.by_cropperhead


def test_a_darktable_sidecar_not_developed_yet(tmp_path):
    from tests.metadata.darktable_builders import developed

    photo = make_photo(tmp_path / "IMG_5.jpg")
    (tmp_path / "IMG_5.jpg.xmp").write_bytes(developed(auto="0"))
    place = PhotoMetadata(photo).sidecars[0]
    assert place.editor == EDITOR_DARKTABLE
    assert not place.darktable_developed
    assert PhotoMetadata(photo).darktable_history() is None


def test_the_embedded_xmp_is_read_only_when_no_sidecar_decides(tmp_path, monkeypatch):
    photo = make_photo(tmp_path / "IMG_6.jpg")
    calls = []
    real = embedded.read_embedded_settings

    def counting(path, fields=()):
        calls.append(path)
        return real(path, fields)

    monkeypatch.setattr(embedded, "read_embedded_settings", counting)
    (tmp_path / "IMG_6.xmp").write_bytes(lightroom())
    meta = PhotoMetadata(photo)
    assert meta.deciding.kind == SIDECAR
    assert calls == []
    (tmp_path / "IMG_6.xmp").unlink()
    meta = PhotoMetadata(photo)
    assert meta.deciding is None  # no metadata anywhere
    assert calls == [photo]
    assert meta.embedded is None
    assert meta.places() == []


def test_an_embedded_crop(shared_fixtures, tmp_path):
    shutil.copyfile(shared_fixtures / "sidecar" / "testimagedesc1.jpg", tmp_path / "t.jpg")
    meta = PhotoMetadata(tmp_path / "t.jpg")
    assert meta.deciding.kind == EMBEDDED
    assert meta.deciding.path == tmp_path / "t.jpg"
    assert meta.deciding.describe() == "embedded XMP (Camera Raw)"


def test_unreadable_sidecars_decide_and_say_why(tmp_path):
    photo = make_photo(tmp_path / "IMG_7.jpg")
    (tmp_path / "IMG_7.xmp").write_bytes(b"<x:xmpmeta><rdf:RDF>broken")
    meta = PhotoMetadata(photo)
    assert meta.deciding.error.reason == BAD_METADATA
    assert meta.unreadable() == [meta.deciding]
    assert isinstance(meta.deciding.result, SkipError)
    given = PhotoMetadata(photo, [SidecarRead(tmp_path / "IMG_7.xmp", None, (UNREADABLE, "gone"))])
    assert given.deciding.error.detail == "IMG_7.xmp: gone"


def test_given_bytes_are_used_and_files_are_not_read_again(tmp_path):
    photo = make_photo(tmp_path / "IMG_8.jpg")
    path = tmp_path / "IMG_8.xmp"
    path.write_bytes(lightroom())
    read = read_sidecar_bytes(path)
    path.unlink()  # the model must work from the bytes it was given
    meta = PhotoMetadata(photo, [read])
    assert meta.deciding.photographers_crop
    assert meta.find(path) is meta.deciding


def test_read_sidecar_bytes_never_raises(tmp_path):
    assert read_sidecar_bytes(tmp_path / "gone.xmp").error[0] == UNREADABLE
    os.mkfifo(tmp_path / "fifo.xmp")
    assert read_sidecar_bytes(tmp_path / "fifo.xmp").error[0] == UNREADABLE
    (tmp_path / "big.xmp").write_bytes(b"x" * 100)
    assert read_sidecar_bytes(tmp_path / "big.xmp", limit=10).error[0] == BAD_METADATA


def test_the_stem_sidecar_of_a_raw_is_not_the_jpegs(tmp_path):
    (tmp_path / "IMG_9.CR2").write_bytes(b"raw")
    jpeg = make_photo(tmp_path / "IMG_9.JPG")
    (tmp_path / "IMG_9.xmp").write_bytes(lightroom())
    assert PhotoMetadata(jpeg).sidecars == ()
    assert [p.path.name for p in PhotoMetadata(tmp_path / "IMG_9.CR2").sidecars] == ["IMG_9.xmp"]


def test_xmp_orientation_follows_the_scan_rule(tmp_path):
    photo = make_photo(tmp_path / "IMG_10.jpg")
    (tmp_path / "IMG_10.xmp").write_bytes(xmp_packet(has_settings=True, orientation=8))
    assert PhotoMetadata(photo).xmp_orientation == 8
