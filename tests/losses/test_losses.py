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
