"""Batched torch geometry against the float64 references and torchvision.ops."""

import numpy as np
import pytest
import torch
from torchvision import ops

from cropperhead.geometry import Crop, crop_to_corners, rotated_iou
from cropperhead.geometry import boxes as B
from cropperhead.geometry.crop import crop_is_inside, largest_crop


def _random_crops(rng: np.random.Generator, n: int, w: float, h: float, max_angle: float = 30):
    crops = []
    for _ in range(n):
        angle = rng.uniform(-max_angle, max_angle)
        centre = (rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h)
        big = largest_crop(w, h, rng.uniform(0.5, 2), angle, centre).as_array()
        mid = (big[:2] + big[2:4]) / 2
        s = rng.uniform(0.3, 1)
        crops.append([*(mid + s * (big[:2] - mid)), *(mid + s * (big[2:4] - mid)), angle])
    return torch.tensor(crops, dtype=torch.float64)


def test_corners_match_numpy():
    rng = np.random.default_rng(0)
    crops = _random_crops(rng, 16, 640, 480)
    got = B.crop_to_corners(crops, 640.0, 480.0)
    for row, corners in zip(crops, got, strict=True):
        assert corners.numpy() == pytest.approx(crop_to_corners(Crop(*row.tolist()), 640, 480))


def test_frame_round_trip():
    rng = np.random.default_rng(1)
    crops = _random_crops(rng, 32, 3.0, 2.0)
    w, h = torch.full((32,), 3.0, dtype=torch.float64), torch.full((32,), 2.0, dtype=torch.float64)
    back = B.frame_to_crop(B.crop_to_frame(crops, w, h), w, h)
    assert torch.allclose(back, crops, atol=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_iou_matches_exact_reference(seed):
    rng = np.random.default_rng(seed)
    w, h = float(rng.integers(100, 900)), float(rng.integers(100, 900))
    a, b = _random_crops(rng, 64, w, h), _random_crops(rng, 64, w, h)
    got = B.rotated_iou(a, b, w, h)
    # Only the aspect matters: (aspect, 1) units give the same IoU as pixels.
    assert torch.allclose(got, B.rotated_iou(a, b, w / h, 1.0), atol=1e-9)
    want = [
        rotated_iou(Crop(*x.tolist()), Crop(*y.tolist()), w, h) for x, y in zip(a, b, strict=True)
    ]
    assert got.numpy() == pytest.approx(np.array(want), abs=1e-9)


def test_identical_disjoint_symmetric_and_float32():
    rng = np.random.default_rng(5)
    a, b = _random_crops(rng, 32, 4.0, 3.0), _random_crops(rng, 32, 4.0, 3.0)
    assert torch.allclose(B.rotated_iou(a, a, 4.0, 3.0), torch.ones(32, dtype=torch.float64))
    assert torch.allclose(B.rotated_iou(a, b, 4.0, 3.0), B.rotated_iou(b, a, 4.0, 3.0), atol=1e-12)
    f32 = B.rotated_iou(a.float(), b.float(), 4.0, 3.0)
    assert torch.allclose(f32.double(), B.rotated_iou(a, b, 4.0, 3.0), atol=1e-4)
    left = torch.tensor([[0.0, 0.0, 0.3, 0.3, 0.0]])
    right = torch.tensor([[0.5, 0.5, 1.0, 1.0, 0.0]])
    assert B.rotated_iou(left, right, 1.0, 1.0).item() == 0


def test_empty_batch():
    empty = torch.zeros(0, 5)
    for kind in ("iou", "giou", "diou", "ciou"):
        assert B.crop_iou_family(empty, empty, 1.0, 1.0, kind).shape == (0,)


@pytest.mark.parametrize(
    ("kind", "reference"),
    [
        ("iou", lambda p, t: torch.diag(ops.box_iou(p, t))),
        ("giou", lambda p, t: 1 - ops.generalized_box_iou_loss(p, t)),
        ("diou", lambda p, t: 1 - ops.distance_box_iou_loss(p, t)),
        ("ciou", lambda p, t: 1 - ops.complete_box_iou_loss(p, t)),
    ],
)
def test_unturned_crops_match_torchvision(kind, reference):
    rng = np.random.default_rng(7)
    w, h = 640.0, 480.0
    a = _random_crops(rng, 50, w, h, max_angle=0)
    b = _random_crops(rng, 50, w, h, max_angle=0)
    scale = torch.tensor([w, h, w, h], dtype=torch.float64)
    got = B.crop_iou_family(a, b, w, h, kind)
    want = reference(a[:, :4] * scale, b[:, :4] * scale)
    assert torch.allclose(got, want, atol=1e-6)


def test_giou_is_a_lower_bound_and_gradients_are_finite():
    rng = np.random.default_rng(9)
    a = _random_crops(rng, 64, 3.0, 2.0).requires_grad_(True)
    b = _random_crops(rng, 64, 3.0, 2.0)
    iou = B.crop_iou_family(a, b, 3.0, 2.0, "iou")
    for kind in ("giou", "diou", "ciou"):
        value = B.crop_iou_family(a, b, 3.0, 2.0, kind)
        assert (value <= iou + 1e-9).all()
        (grad,) = torch.autograd.grad(value.sum(), a)
        assert torch.isfinite(grad).all()
        assert grad.abs().sum() > 0


def test_gradient_of_iou_matches_finite_differences():
    a = torch.tensor([[0.1, 0.15, 0.7, 0.8, 4.0]], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([[0.2, 0.1, 0.8, 0.75, -2.0]], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: B.rotated_iou(x, b, 1.5, 1.0), (a,))


def test_unknown_kind():
    with pytest.raises(ValueError, match="'xiou'"):
        B.crop_iou_family(torch.zeros(1, 5), torch.zeros(1, 5), 1.0, 1.0, "xiou")


def test_bde_and_angle_error_match_numpy():
    a = torch.tensor([[0.1, 0.2, 0.9, 0.8, 2.0]])
    b = torch.tensor([[0.2, 0.2, 0.9, 0.6, -1.0]])
    assert B.boundary_displacement_error(a, b).item() == pytest.approx(0.075)
    assert B.angle_error_deg(a, b).item() == pytest.approx(3)


@pytest.mark.parametrize("kind", ["iou", "giou", "diou", "ciou"])
def test_identical_turned_crops_score_one(kind):
    rng = np.random.default_rng(11)
    a = _random_crops(rng, 32, 3.0, 2.0)
    assert torch.allclose(B.crop_iou_family(a, a, 3.0, 2.0, kind), torch.ones(32, dtype=a.dtype))


@pytest.mark.parametrize("seed", range(4))
def test_mean_of_two_crops_lies_inside_and_between_them(seed):
    rng = np.random.default_rng(100 + seed)
    w, h = float(rng.integers(100, 900)), float(rng.integers(100, 900))
    a, b = _random_crops(rng, 64, w, h), _random_crops(rng, 64, w, h)
    got = B.mean_crops(a, b, w, h)
    for row in got:
        assert crop_is_inside(Crop(*row.tolist()), w, h, tol_px=1e-6)
    # The angle is the mean; the size never exceeds the larger of the two.
    assert torch.allclose(got[:, 4], (a[:, 4] + b[:, 4]) / 2, atol=1e-9)
    area = B.crop_to_frame(got, w, h)[:, 2:4].prod(1)
    larger = torch.maximum(*(B.crop_to_frame(c, w, h)[:, 2:4].prod(1) for c in (a, b)))
    assert bool((area <= larger * (1 + 1e-9)).all())
    # Order does not matter, and a crop averaged with itself is itself.
    assert torch.allclose(got, B.mean_crops(b, a, w, h), atol=1e-9)
    assert torch.allclose(B.mean_crops(a, a, w, h), a, atol=1e-7)


def test_mean_of_two_level_crops_is_the_mean_box_of_the_same_aspect():
    a = torch.tensor([[0.1, 0.2, 0.5, 0.6, 0.0]], dtype=torch.float64)
    b = torch.tensor([[0.3, 0.2, 0.7, 0.6, 0.0]], dtype=torch.float64)
    assert B.mean_crops(a, b, 3.0, 2.0)[0].tolist() == pytest.approx([0.2, 0.2, 0.6, 0.6, 0.0])
    # The full frame and the largest crop turned by 20 deg: at 10 deg the mean size
    # (half height sqrt(1 x 0.688) = 0.830) would leave the photo, so it shrinks to fit.
    full = torch.tensor([[0.0, 0.0, 1.0, 1.0, 0.0]], dtype=torch.float64)
    turned = torch.tensor(np.array([largest_crop(3.0, 2.0, 1.5, 20.0).as_array()]))
    mean = B.mean_crops(full, turned, 3.0, 2.0)
    assert mean[0, 4].item() == pytest.approx(10.0)
    assert crop_is_inside(Crop(*mean[0].tolist()), 3.0, 2.0, tol_px=1e-9)
    q = B.crop_to_frame(mean, 3.0, 2.0)[0, 3].item()
    assert q == pytest.approx(largest_crop_half_height(3.0, 2.0, 1.5, 10.0), rel=1e-6)


def largest_crop_half_height(w: float, h: float, aspect: float, angle: float) -> float:
    crop = largest_crop(w, h, aspect, angle)
    return float(B.crop_to_frame(torch.tensor(np.array([crop.as_array()])), w, h)[0, 3])
