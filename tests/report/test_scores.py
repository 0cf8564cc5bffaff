"""cropperhead.report.scores: aspect of a crop, aspect tolerance, rank correlation."""

import math

import numpy as np
import pytest

from cropperhead.geometry import Crop, CropFrame, frame_to_crop
from cropperhead.report.evaluate import evaluate
from cropperhead.report.scores import aspects_match, crop_aspect
from cropperhead.report.scores import spearman_rank_correlation as rho
from tests.report.conftest import manifest_row, prediction_row


def test_aspect_of_a_turned_crop_is_its_sides_not_its_bounding_box():
    turned = frame_to_crop(CropFrame(150, 100, 60, 30, 20.0), 300, 200)  # 120 x 60, 20 deg
    level = frame_to_crop(CropFrame(150, 100, 80, 40, 0.0), 300, 200)  # 160 x 80
    assert crop_aspect(turned, 300, 200) == pytest.approx(2.0)
    assert aspects_match(turned, level, 300, 200)
    # Its bounding box is far from 2:1.
    box = (60 * np.cos(np.radians(20)) + 30 * np.sin(np.radians(20))) / (
        60 * np.sin(np.radians(20)) + 30 * np.cos(np.radians(20))
    )
    assert abs(box - 2) > 0.5
    rows = [manifest_row("i.jpg", "/p/t.jpg", 300, 200, level)]
    preds = [prediction_row("/p/t.jpg", 300, 200, turned)]
    assert evaluate(rows, preds).model.aspect_accuracy == 1.0


@pytest.mark.parametrize(("width_px", "matches"), [(100.9, True), (101.1, False), (99.1, True)])
def test_aspect_tolerance_is_one_percent_relative(width_px, matches):
    target = Crop(0.25, 0.25, 0.75, 0.75)  # 100 x 100 of 200 x 200
    predicted = Crop(0.25, 0.25, 0.25 + width_px / 200, 0.75)
    assert aspects_match(predicted, target, 200, 200) is matches


def test_spearman_known_values():
    assert rho([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert rho([1, 2, 3, 4], [0.4, 0.3, 0.2, 0.1]) == pytest.approx(-1.0)
    assert rho([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)
    assert rho([1, 1, 2], [1, 2, 3]) == pytest.approx(math.sqrt(3) / 2)  # ranks 1.5 1.5 3
    assert math.isnan(rho([1, 1, 1], [1, 2, 3]))
    assert math.isnan(rho([1], [1]))
    with pytest.raises(ValueError, match="one length"):
        rho([1, 2], [1, 2, 3])
