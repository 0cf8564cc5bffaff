"""Unit tests of the labelling rules (no files)."""

import math

import numpy as np
import pytest

from cropperhead.geometry import Crop, crop_stored_to_display, crop_to_corners
from cropperhead.metadata.types import (
    ALREADY_APPLIED,
    INVALID_CROP,
    NO_METADATA,
    ORIGIN_SIDECAR,
    UNCROPPED,
    DevelopSettings,
    SkipError,
)
from cropperhead.scan.pipeline import Decision, decide, image_name, label_display

CROP = Crop(0.1, 0.2, 0.8, 0.9, 3.0)


def settings(**kw):
    base = {"origin": ORIGIN_SIDECAR, "has_settings": True}
    base.update(kw)
    return DevelopSettings(**base)


@pytest.mark.parametrize("include_uncropped", [False, True])
def test_decide_outcomes(include_uncropped):
    assert decide(settings(has_settings=False), include_uncropped).skip[0] == NO_METADATA
    applied = settings(has_crop=True, crop=CROP, already_applied=True)
    assert decide(applied, include_uncropped).skip[0] == ALREADY_APPLIED
    # An export without a crop is never a sample either.
    export = settings(already_applied=True)
    assert decide(export, include_uncropped).skip[0] == ALREADY_APPLIED
    for uncropped in (
        settings(),
        settings(has_crop=True, crop=Crop.full_frame()),
        settings(has_crop=False, crop=CROP),
    ):
        decision = decide(uncropped, include_uncropped)
        if include_uncropped:
            assert decision.skip is None
            assert decision.crop == Crop.full_frame()
        else:
            assert decision.skip[0] == UNCROPPED
    cropped = decide(settings(has_crop=True, crop=CROP), include_uncropped)
    assert cropped == Decision(crop=CROP, frame="stored")
    turned_full = decide(settings(has_crop=True, crop=Crop(0, 0, 1, 1, 0.5)), include_uncropped)
    assert turned_full.crop is not None
    assert turned_full.crop.angle == 0.5


@pytest.mark.parametrize("orientation", range(1, 9))
def test_label_display_matches_geometry(orientation):
    crop, corners = label_display(Decision(crop=CROP), 640, 480, orientation)
    expected = crop_stored_to_display(CROP, 640, 480, orientation)
    np.testing.assert_allclose(crop.as_array(), expected.as_array(), atol=1e-12)
    dw, dh = (640, 480) if orientation < 5 else (480, 640)
    np.testing.assert_allclose(corners, crop_to_corners(expected, dw, dh) / [dw, dh], atol=1e-12)


def test_label_display_refuses_crops_outside_the_photo():
    # The whole frame turned by 10 degrees pokes out of the photo at every corner.
    with pytest.raises(SkipError) as err:
        label_display(Decision(crop=Crop(0, 0, 1, 1, 10)), 640, 480, 1)
    assert err.value.reason == INVALID_CROP
    # Corners given in the wrong order (right < left) are no rectangle.
    with pytest.raises(SkipError):
        label_display(Decision(crop=Crop(0.8, 0.2, 0.1, 0.9, 0)), 640, 480, 6)
    with pytest.raises(SkipError):
        label_display(Decision(crop=Crop(0, 0, 1, 1, 10), frame="display"), 640, 480, 6)


def test_label_display_clips_corners_within_half_a_pixel():
    # A turned crop whose corner lies 0.3 px outside: accepted, clipped into [0, 1].
    theta = math.radians(5)
    w, h = 600.0, 400.0
    p, q = 200.0, 120.0
    cx = p * math.cos(theta) + q * math.sin(theta) - 0.3
    cy = h / 2
    tl = (
        cx - p * math.cos(theta) + q * math.sin(theta),
        cy - p * math.sin(theta) - q * math.cos(theta),
    )
    br = (
        cx + p * math.cos(theta) - q * math.sin(theta),
        cy + p * math.sin(theta) + q * math.cos(theta),
    )
    crop = Crop(tl[0] / w, tl[1] / h, br[0] / w, br[1] / h, 5)
    for orientation in range(1, 9):
        shown, corners = label_display(Decision(crop=crop), 600, 400, orientation)
        assert corners.min() >= 0
        assert corners.max() <= 1
        assert shown.angle == pytest.approx(-5 if orientation in (2, 4, 5, 7) else 5)


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
    from cropperhead.scan.pipeline import load_photo
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
    from cropperhead.scan.pipeline import Sidecar, _read_sidecar

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


def test_planned_jobs_hold_no_sidecar_bytes(tmp_path):
    from pathlib import Path

    from cropperhead.scan import walker
    from cropperhead.scan.pipeline import ScanConfig, _Scan
    from tests.scan.library import PLAIN, make_photo, xmp_packet

    lib = tmp_path / "lib"
    for i in range(3):
        make_photo(lib / f"p{i}.jpg")
        (lib / f"p{i}.xmp").write_bytes(xmp_packet(PLAIN))
    scan = _Scan(ScanConfig(out=tmp_path / "out"), [lib], [], False, 1, False)
    walk = walker.walk_sources([lib])
    rows = scan._read_catalogs()  # none given
    empty = scan.store.load()[0]
    todo = scan._plan(walk, rows, empty, empty, empty)
    assert [Path(t[0]).name for t in todo] == ["p0.jpg", "p1.jpg", "p2.jpg"]
    assert all(isinstance(field, (str, tuple, type(None))) for t in todo for field in t)
    jobs = list(scan._jobs(todo, rows))
    assert not todo  # consumed as the jobs are built
    assert [job.photo.name for job in jobs] == ["p0.jpg", "p1.jpg", "p2.jpg"]
    assert all(job.input == str(lib.resolve()) for job in jobs)
    for job in jobs:
        (sidecar,) = job.sidecars
        assert sidecar.packet is None
        assert sidecar.path == job.photo.with_suffix(".xmp")


def test_workers_are_forked_only_when_that_is_safe():
    import sys
    import threading

    from cropperhead.scan.pipeline import _pool_context

    expected = "spawn" if "torch" in sys.modules or not sys.platform.startswith("linux") else None
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert _pool_context().get_start_method() == "spawn"
    finally:
        stop.set()
        thread.join()
    if expected is None and threading.active_count() == 1:
        assert _pool_context().get_start_method() == "fork"
