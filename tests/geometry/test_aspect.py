"""Aspect classes: the photographer's discrete ratio choices."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cropperhead.geometry import Crop, largest_crop
from cropperhead.geometry.aspect import (
    ASPECT_CLASSES,
    FREE,
    ORIGINAL,
    aspect_class,
    class_aspect,
    crop_aspect,
    habit,
)
from cropperhead.geometry.boxes import crop_aspect_class, is_full_frame


@pytest.mark.parametrize(
    ("w", "h", "ratio", "angle", "expected"),
    [
        (6000, 4000, 1.5, 0, ORIGINAL),  # a 3:2 crop of a 3:2 photo is the photo's own
        (6000, 4000, 1.5, 4.0, ORIGINAL),  # turned: the crop's own sides count
        (4000, 6000, 2 / 3, -3.0, ORIGINAL),
        (4000, 6000, 1.5, 0, "2:3"),  # landscape 3:2 of a portrait photo
        (6000, 4000, 1.0, 2.0, "1:1"),
        (6000, 4000, 0.8, 0, "4:5"),  # portrait 4:5
        (6000, 4000, 1.25, 0, "4:5"),  # landscape 5:4: the same class
        (6000, 4000, 16 / 9, 1.0, "16:9"),
        (6000, 4000, 1.1, 0, FREE),
        (5000, 4000, 1.252, 0, ORIGINAL),  # within 1%: the photo's own 5:4
    ],
)
def test_known_classes(w, h, ratio, angle, expected):
    crop = largest_crop(w, h, ratio, angle)
    assert math.isclose(crop_aspect(crop, w, h), ratio, rel_tol=1e-6)
    assert aspect_class(crop, w, h) == expected


def test_class_aspect_keeps_the_crops_orientation():
    assert class_aspect("4:5", 0.7, 1.5) == pytest.approx(0.8)
    assert class_aspect("4:5", 1.3, 1.5) == pytest.approx(1.25)
    assert class_aspect(ORIGINAL, 0.7, 1.5) == 1.5
    assert class_aspect(FREE, 0.7, 1.5) is None
    with pytest.raises(ValueError, match="aspect class"):
        class_aspect("7:3", 1, 1)


def test_a_ratio_hit_by_chance_is_no_habit():
    classes = [ORIGINAL] * 80 + ["1:1"] * 15 + ["16:9"] * 2 + [FREE] * 3
    assert habit(classes) == {FREE: 0.03, ORIGINAL: 0.8, "1:1": 0.15}
    assert habit([]) == {FREE: 0.0}
    assert list(habit(classes)) == [c for c in ASPECT_CLASSES if c in habit(classes)]


@settings(max_examples=150, deadline=None)
@given(
    w=st.floats(200, 8000),
    h=st.floats(200, 8000),
    pick=st.integers(0, 8),
    free=st.floats(0.3, 3.0),
    angle=st.floats(-10, 10),
)
def test_batched_classes_equal_the_reference(w, h, pick, free, angle):
    ratio = [w / h, 1.0, 0.8, 1.25, 1.5, 2 / 3, 16 / 9, 2.0, free][pick]
    crop = largest_crop(w, h, ratio, angle)
    expected = ASPECT_CLASSES.index(aspect_class(crop, w, h))
    got = crop_aspect_class(torch.tensor(crop.as_array()[None]), torch.tensor([w / h]))
    assert int(got[0]) == expected


def test_batched_classes_outside_the_habit_are_free():
    crop = largest_crop(600, 400, 1.0, 0)
    allowed = torch.tensor([c != "1:1" for c in ASPECT_CLASSES])
    got = crop_aspect_class(torch.tensor(crop.as_array()[None]), torch.tensor([1.5]), allowed)
    assert ASPECT_CLASSES[int(got[0])] == FREE


def test_full_frame_is_uncropped():
    crops = torch.tensor([[0, 0, 1, 1, 0], [0, 0, 1, 1, 0.5], [0.01, 0, 1, 1, 0]])
    assert is_full_frame(crops).tolist() == [True, False, False]
    assert Crop.full_frame().as_array().tolist() == [0, 0, 1, 1, 0]
    assert np.isfinite(crop_aspect(Crop.full_frame(), 3, 2))
