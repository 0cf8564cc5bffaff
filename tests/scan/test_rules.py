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
from cropperhead.scan.rules import Decision, decide, label_display

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
