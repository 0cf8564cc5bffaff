import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cropperhead.geometry import Crop, crop_is_inside
from cropperhead.model.heads import CropHead, CropParametrisation


def _check_valid(crops: torch.Tensor, aspect: torch.Tensor, max_angle: float) -> None:
    c = crops.double()
    assert torch.isfinite(c).all()
    assert (c[:, :4] >= 0).all()
    assert (c[:, :4] <= 1).all()
    assert (c[:, 0] < c[:, 2]).all(), "left must be < right"
    assert (c[:, 1] < c[:, 3]).all(), "top must be < bottom"
    assert (c[:, 4].abs() <= max_angle + 1e-4).all()
    for row, a in zip(c.tolist(), aspect.double().tolist(), strict=True):
        # All four corners inside the photo, in display pixels of a 1000-high photo.
        assert crop_is_inside(Crop(*row), 1000 * a, 1000, tol_px=0.02), row


@pytest.mark.parametrize("max_angle", [5.0, 15.0, 45.0])
def test_random_and_extreme_logits_give_valid_crops(max_angle):
    gen = torch.Generator().manual_seed(0)
    n = 2000
    logits = torch.randn(n, 5, generator=gen) * 3
    extreme = torch.randint(0, 3, (n, 5), generator=gen).float() - 1  # -1, 0, 1
    logits = torch.where(torch.rand(n, 5, generator=gen) < 0.3, extreme * 1e4, logits)
    aspect = torch.exp(torch.randn(n, generator=gen) * 0.8)
    _check_valid(CropParametrisation(max_angle)(logits, aspect), aspect, max_angle)


@settings(max_examples=200, deadline=None)
@given(
    logits=st.lists(st.floats(-1e4, 1e4), min_size=5, max_size=5),
    aspect=st.floats(0.2, 5.0),
    max_angle=st.floats(0.5, 45.0),
)
def test_any_logits_give_a_valid_crop(logits, aspect, max_angle):
    a = torch.tensor([aspect])
    _check_valid(CropParametrisation(max_angle)(torch.tensor([logits]), a), a, max_angle)


def test_every_crop_is_reachable_in_direction():
    # Angle, centre and scale respond monotonically to their logits.
    p = CropParametrisation(15.0)
    z = torch.zeros(3, 5)
    z[:, 0] = torch.tensor([-2.0, 0.0, 2.0])
    angles = p(z, torch.ones(3))[:, 4]
    assert angles[0] < 0 == angles[1] < angles[2]
    z = torch.zeros(2, 5)
    z[:, 3] = torch.tensor([-3.0, 3.0])
    crops = p(z, torch.full((2,), 1.5))
    assert crops[0, 0] < crops[1, 0]


def test_gradients_flow_to_every_logit():
    logits = torch.randn(8, 5, requires_grad=True)
    crops = CropParametrisation(15.0)(logits, torch.full((8,), 1.5))
    crops.sum().backward()
    assert (logits.grad.abs().sum(0) > 0).all()


def test_head_uses_the_photo_aspect():
    head = CropHead((16, 8), hidden=8).eval()
    feats = (torch.randn(4, 16, 6, 6), torch.randn(4, 8, 3, 3))
    wide = head(feats, torch.full((4,), 3.0))
    tall = head(feats, torch.full((4,), 1 / 3))
    _check_valid(wide, torch.full((4,), 3.0), 15.0)
    _check_valid(tall, torch.full((4,), 1 / 3), 15.0)
    assert not torch.allclose(wide, tall)


def test_bad_arguments():
    with pytest.raises(ValueError, match="max_angle"):
        CropParametrisation(60)
    with pytest.raises(ValueError, match="min_scale"):
        CropParametrisation(10, min_scale=0)
    assert np.isfinite(CropParametrisation(45)(torch.zeros(1, 5), torch.ones(1)).numpy()).all()


def test_head_checks_the_number_of_feature_maps():
    head = CropHead((16, 8), hidden=0)
    with pytest.raises(ValueError, match="2 feature maps, got 1"):
        head(torch.randn(2, 16, 4, 4), torch.ones(2))
