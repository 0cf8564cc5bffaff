import math

import pytest
import torch

from cropperhead.losses import LOSSES, CropLoss


def _pair():
    target = torch.tensor([[0.1, 0.1, 0.8, 0.9, 3.0], [0.2, 0.0, 1.0, 0.7, -2.0]])
    pred = torch.tensor([[0.15, 0.1, 0.75, 0.85, 1.0], [0.1, 0.1, 0.9, 0.8, 0.0]])
    return pred, target, torch.tensor([1.5, 0.75])


@pytest.mark.parametrize("name", LOSSES)
def test_zero_for_a_perfect_prediction_and_positive_otherwise(name):
    pred, target, aspect = _pair()
    perfect = CropLoss(name)(target, target, aspect)
    assert perfect["loss"].item() == pytest.approx(0, abs=1e-5)
    worse = CropLoss(name)(pred, target, aspect)
    assert worse["loss"].item() > 0.01


@pytest.mark.parametrize("name", LOSSES)
def test_gradients_point_towards_the_target(name):
    pred, target, aspect = _pair()
    pred = pred.clone().requires_grad_(True)
    loss = CropLoss(name)(pred, target, aspect)["loss"]
    loss.backward()
    with torch.no_grad():
        stepped = pred - 0.01 * pred.grad / pred.grad.norm()
        assert CropLoss(name)(stepped, target, aspect)["loss"] < loss


def test_weights_combine_terms():
    pred, target, aspect = _pair()
    only_angle = CropLoss("giou", weight=0, l1_weight=0, angle_weight=2.0)(pred, target, aspect)
    assert only_angle["loss"].item() == pytest.approx(2 * only_angle["angle"].item())
    total = CropLoss("iou", weight=1, l1_weight=0.5, angle_weight=0)(pred, target, aspect)
    assert total["loss"].item() == pytest.approx(total["main"].item() + 0.5 * total["l1"].item())


def test_bad_configuration():
    with pytest.raises(ValueError, match="'hinge'"):
        CropLoss("hinge")
    with pytest.raises(ValueError, match="l1_weight"):
        CropLoss("giou", l1_weight=-1)


def _head_outputs(heat_at, n_classes=3):
    """Fake CentreHead outputs on a 8 x 8 grid over square photos, peaked at a cell."""
    from cropperhead.model.heads import canvas_cells_to_photo

    b = len(heat_at)
    cells = canvas_cells_to_photo(8, 8, torch.ones(b))
    heat = torch.zeros(b, 64)
    for i, (row, col) in enumerate(heat_at):
        heat[i, row * 8 + col] = 8.0
    return {
        "heat": heat,
        "cells": cells,
        "crop": torch.tensor([[0.2, 0.2, 0.6, 0.6, 0.0]] * b),
        "aspect_logits": torch.zeros(b, n_classes),
        "crop_logit": torch.zeros(b),
        "quality_logit": torch.zeros(b),
    }


def test_centre_term_is_lowest_with_the_heat_on_the_true_centre():
    loss = CropLoss("giou")
    # Target centre (0.4, 0.4) of a square photo: cell (row 2/3, col 2/3) of 8 x 8.
    target = torch.tensor([[0.2, 0.2, 0.6, 0.6, 0.0]])
    ones = torch.ones(1)
    cls = torch.zeros(1, dtype=torch.long)
    near = loss.head_terms(_head_outputs([(3, 3)]), target, ones, ones, cls, False)
    far = loss.head_terms(_head_outputs([(7, 0)]), target, ones, ones, cls, False)
    assert near["centre"] < far["centre"]
    assert float(near["decision"]) == 0.0  # not learnt without uncropped photos


def test_uncropped_photos_teach_only_the_decision():
    loss = CropLoss("giou")
    target = torch.tensor([[0.0, 0.0, 1.0, 1.0, 0.0], [0.2, 0.2, 0.6, 0.6, 0.0]])
    pred = torch.tensor([[0.3, 0.3, 0.5, 0.5, 3.0], [0.2, 0.2, 0.6, 0.6, 0.0]])
    aspect = torch.ones(2)
    cropped = torch.tensor([0.0, 1.0])
    # The uncropped photo's bad crop costs nothing: only the cropped photo counts.
    terms = loss(pred, target, aspect, weight=cropped)
    assert float(terms["loss"]) == pytest.approx(0.0, abs=1e-6)
    out = _head_outputs([(0, 0), (3, 3)])
    cls = torch.zeros(2, dtype=torch.long)
    head = loss.head_terms(out, target, aspect, cropped, cls, True)
    assert float(head["decision"]) == pytest.approx(math.log(2), rel=1e-5)  # logits 0
    moved = dict(out, heat=out["heat"].clone())
    moved["heat"][0] = torch.roll(moved["heat"][0], 9)  # the uncropped photo's heat
    again = loss.head_terms(moved, target, aspect, cropped, cls, True)
    assert float(again["centre"]) == pytest.approx(float(head["centre"]))
