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


# --------------------------------------------------------------------------- the centre head


@settings(max_examples=200, deadline=None)
@given(
    logits=st.lists(st.floats(-1e4, 1e4), min_size=5, max_size=5),
    centre=st.tuples(st.floats(-3, 4), st.floats(-3, 4)),
    aspect=st.floats(0.2, 5.0),
    max_angle=st.floats(0.5, 45.0),
)
def test_any_wanted_centre_gives_a_valid_crop(logits, centre, aspect, max_angle):
    a = torch.tensor([aspect])
    crops = CropParametrisation(max_angle)(torch.tensor([logits]), a, torch.tensor([centre]))
    _check_valid(crops, a, max_angle)


def test_a_reachable_centre_is_kept():
    p = CropParametrisation(15.0)
    z = torch.zeros(4, 5)
    z[:, 2] = -3.0  # small crops, so every wanted centre can be had
    centre = torch.tensor([[0.3, 0.4], [0.7, 0.6], [0.5, 0.5], [0.62, 0.35]])
    crops = p(z, torch.full((4,), 1.5), centre)
    mid = torch.stack([(crops[:, 0] + crops[:, 2]) / 2, (crops[:, 1] + crops[:, 3]) / 2], 1)
    assert torch.allclose(mid, centre, atol=1e-5)


@pytest.mark.parametrize("aspect", [1.5, 1.0, 0.6])
def test_grid_cells_map_onto_the_letterboxed_photo(aspect):
    from cropperhead.data.transforms import letterbox
    from cropperhead.model.heads import canvas_cells_to_photo

    size, grid = 128, 16
    h, w = (int(round(300 / aspect)), 300) if aspect >= 1 else (300, int(round(300 * aspect)))
    photo = np.zeros((h, w, 3), np.uint8)
    _, (x0, y0, nw, nh) = letterbox(photo, size)
    cells = canvas_cells_to_photo(grid, grid, torch.tensor([w / h]))[0].numpy()
    step = size / grid
    centres = np.stack(np.meshgrid(np.arange(grid), np.arange(grid)), -1).reshape(-1, 2) + 0.5
    canvas = centres * step
    expected = (canvas - (x0, y0)) / (nw, nh)
    assert np.allclose(cells, expected, atol=1.5 / size)  # letterbox rounds to whole pixels


def _centre_head(seed=0, scale=1.0, attention_heads=0):
    from cropperhead.model.heads import CentreHead

    torch.manual_seed(seed)
    head = CentreHead(
        (16, 24, 32), width=8, hidden=16, n_aspect_classes=4, attention_heads=attention_heads
    ).eval()
    with torch.no_grad():
        for p in head.parameters():
            p.normal_(0, scale)
    return head


@pytest.mark.parametrize("attention_heads", [0, 3])
@pytest.mark.parametrize("scale", [0.5, 30.0, 1e3])
def test_centre_head_crops_are_valid_whatever_its_weights(scale, attention_heads):
    head = _centre_head(1, scale, attention_heads)
    gen = torch.Generator().manual_seed(2)
    n = 64
    feats = (
        torch.randn(n, 16, 16, 16, generator=gen) * scale,
        torch.randn(n, 24, 8, 8, generator=gen),
        torch.randn(n, 32, 4, 4, generator=gen),
    )
    aspect = torch.exp(torch.randn(n, generator=gen) * 0.7)
    with torch.no_grad():
        out = head(feats, aspect)
    _check_valid(out["crop"], aspect, 15.0)
    assert ((out["centre"] >= 0) & (out["centre"] <= 1)).all()
    # Places outside the photo are never scored as a centre.
    outside = ~((out["cells"] >= 0) & (out["cells"] <= 1)).all(-1)
    assert (out["heat"][outside] <= -1e3).all()
    assert out["aspect_logits"].shape == (n, 4)


def test_centre_head_follows_its_heatmap():
    """The crop goes where the heatmap's peak is: the spatial bias the head is for."""
    head = _centre_head(3, 0.1)
    feats = [torch.zeros(2, 16, 16, 16), torch.zeros(2, 24, 8, 8), torch.zeros(2, 32, 4, 4)]
    aspect = torch.ones(2)
    with torch.no_grad():
        head.heat.weight.zero_()
        head.heat.bias.zero_()
        head.heat.weight[0, 0] = 1.0
        head.lateral[0][0].weight.zero_()
        head.lateral[0][0].weight[0, 0] = 1.0
        head.lateral[0][1].reset_parameters()
        for m in (*head.lateral[1:], head.smooth):
            for p in m.parameters():
                p.zero_()
        head.smooth[1].weight[0, 0, 1, 1] = 1.0
        head.smooth[2].reset_parameters()
        feats[0][0, 0, 3, 12] = 50.0  # a bright place up right in photo 0
        feats[0][1, 0, 12, 3] = 50.0  # down left in photo 1
        out = head(tuple(feats), aspect)
    (x0, y0), (x1, y1) = out["centre"].tolist()
    assert x0 > 0.6
    assert y0 < 0.4
    assert x1 < 0.4
    assert y1 > 0.6


def test_attention_pools_where_each_map_looks_and_never_the_padding():
    from cropperhead.model.heads import attention_pool

    values = torch.arange(2 * 3 * 4, dtype=torch.float32).view(2, 3, 4)
    inside = torch.tensor([[True, True, True, False], [True, True, True, True]])
    scores = torch.zeros(2, 2, 4)
    scores[:, 0, 1] = 50.0  # map 0 looks at place 1
    scores[:, 1, 3] = 50.0  # map 1 at place 3, which is padding in photo 0
    pooled = attention_pool(scores, values, inside)
    assert pooled.shape == (2, 2, 3)
    assert torch.allclose(pooled[:, 0], values[:, :, 1], atol=1e-4)
    assert torch.allclose(pooled[1, 1], values[1, :, 3], atol=1e-4)
    # Padding never counts: in photo 0, map 1 falls back on the mean of the photo's places.
    assert torch.allclose(pooled[0, 1], values[0, :, :3].mean(1), atol=1e-4)


def test_attention_heads_widen_what_the_crop_is_read_from():
    from cropperhead.model.heads import CentreHead

    plain = CentreHead((16, 24, 32), width=8, hidden=16)
    looking = CentreHead((16, 24, 32), width=8, hidden=16, attention_heads=2)
    assert looking.mlp[0].in_features == plain.mlp[0].in_features + 2 * 8 + 2
    # Zero-initialised maps: at first each is the mean over the photo.
    assert not looking.attend.weight.any()
    assert not looking.attend.bias.any()


def test_inference_columns_mask_classes_and_decision():
    from cropperhead.model.heads import inference_columns

    head = _centre_head(4, 1.0)
    feats = (torch.randn(3, 16, 16, 16), torch.randn(3, 24, 8, 8), torch.randn(3, 32, 4, 4))
    with torch.no_grad():
        out = head(feats, torch.ones(3))
    allowed = torch.tensor([True, False, True, False])
    cols = inference_columns(out, allowed, torch.tensor(False))
    assert cols.shape == (3, 5 + 4 + 2)
    assert torch.allclose(cols[:, 5:9].sum(1), torch.ones(3))
    assert (cols[:, [6, 8]] == 0).all()
    assert (cols[:, 9] == 1).all()  # nothing taught about leaving photos alone: always crop
    learnt = inference_columns(out, allowed, torch.tensor(True))
    assert torch.allclose(learnt[:, 9], torch.sigmoid(out["crop_logit"]))


def _lines_picture(tilt_deg, size=(96, 144)):
    import cv2

    h, w = size
    img = np.full((h, w, 3), 80, np.uint8)
    for y in range(6, h, 12):
        cv2.line(img, (-w, y), (2 * w, y), (230, 230, 230), 2)
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), tilt_deg, 1.0)
    return cv2.warpAffine(img, turn, (w, h), borderMode=cv2.BORDER_REFLECT_101)


def _network_input(picture, size=128):
    """A photo as the network gets it: letterboxed, normalised, ``[1, 3, S, S]``, aspect."""
    from cropperhead.data.transforms import MEAN, STD, letterbox

    canvas, _ = letterbox(picture, size)
    x = torch.from_numpy(canvas).permute(2, 0, 1).float() / 255 - torch.tensor(MEAN).view(3, 1, 1)
    x = x / torch.tensor(STD).view(3, 1, 1)
    return x.unsqueeze(0), torch.tensor([picture.shape[1] / picture.shape[0]])


def _histogram(picture, scales=(0.0,)):
    from cropperhead.model.heads import OrientationHistogram

    x, aspect = _network_input(picture)
    module = OrientationHistogram(bins=31, span=15.0, scales=scales)
    return module(x, aspect)[0], module.centres


@pytest.mark.parametrize("tilt", [-7.0, -2.0, 0.0, 3.0, 9.0])
def test_orientation_histogram_peaks_at_the_lines_lean(tilt):
    hist, centres = _histogram(_lines_picture(tilt))
    assert hist.sum() == pytest.approx(31.0)  # a bin is 1 on average
    # cv2 turns counter-clockwise for positive angles: the lean reads the other way.
    assert float(centres[hist.argmax()]) == pytest.approx(-tilt, abs=1.0)


def test_orientation_histogram_ignores_the_letterbox_and_mirrors_with_the_photo():
    picture = _lines_picture(4.0)
    hist, _ = _histogram(picture)
    mirrored, _ = _histogram(np.ascontiguousarray(picture[:, ::-1]))
    assert torch.allclose(mirrored, hist.flip(0), atol=0.6)
    # The letterbox's border is perfectly level: had it counted, lean 0 would stand out.
    assert float(hist[15]) < 1.5


def test_blurred_histograms_find_a_faint_line_in_noise():
    """A studio floor line under film grain: the blurred scales see it, the sharp one less."""
    import cv2

    rng = np.random.default_rng(0)
    h, w = 96, 144
    img = np.full((h, w, 3), 120.0)
    img[60:] = 90.0  # the floor: a faint step under grain
    img = np.clip(img + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), 5.0, 1.0)
    img = cv2.warpAffine(img, turn, (w, h), borderMode=cv2.BORDER_REFLECT_101)
    hist, centres = _histogram(img, scales=(0.0, 2 / 128, 3 / 128))
    sharp, blurred = hist[:31], hist[62:]
    assert float(centres[blurred.argmax()]) == pytest.approx(-5.0, abs=1.5)
    assert abs(float(centres[sharp.argmax()]) + 5.0) > 2.0  # the grain wins at full sharpness
    assert float(blurred.max()) > 2 * float(sharp.max())


# -- mixed precision: the read-out stays in fp32 ------------------------------------------


def test_orientation_histogram_is_the_same_under_bf16_autocast():
    from cropperhead.model.heads import OrientationHistogram

    x, aspect = _network_input(_lines_picture(2.5))
    module = OrientationHistogram(bins=31, span=15.0, scales=(0.0, 2 / 128))
    plain = module(x, aspect)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = module(x, aspect)
        # The Sobel convolution autocast would round: what the module must not do.
        rounded = module._histogram(x[:, :1].bfloat16(), torch.ones(1, 128, 128, dtype=bool))
    assert mixed.dtype == torch.float32
    assert torch.equal(mixed, plain)
    assert rounded.dtype == torch.bfloat16


def test_centre_head_reads_out_in_fp32_under_bf16_autocast():
    head = _centre_head(4, 0.3)
    head.orientation = None
    gen = torch.Generator().manual_seed(5)
    n = 32
    feats = (
        torch.randn(n, 16, 16, 16, generator=gen),
        torch.randn(n, 24, 8, 8, generator=gen),
        torch.randn(n, 32, 4, 4, generator=gen),
    )
    aspect = torch.exp(torch.randn(n, generator=gen) * 0.7)
    with torch.no_grad():
        plain = head(feats, aspect)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            # The backbone hands bf16 maps over under autocast.
            mixed = head(tuple(f.bfloat16() for f in feats), aspect)
    for key, value in mixed.items():
        assert value.dtype == torch.float32, key
    _check_valid(mixed["crop"], aspect, 15.0)
    # Only the pyramid's convolutions ran in bf16: the crops are close to fp32's (edges in
    # fractions of the photo, the angle in degrees).
    assert torch.allclose(mixed["crop"][:, :4], plain["crop"][:, :4], atol=0.005)
    assert torch.allclose(mixed["crop"][:, 4], plain["crop"][:, 4], atol=0.2)
