"""cropperhead.predict.network: the network prediction runs, BatchNorm folded."""

import torch
from torch import nn

from cropperhead.predict.loaders import load_crop_model
from cropperhead.predict.network import CropNet, fold_batchnorm, inference_net
from tests.predict.conftest import IMAGE_SIZE


def test_fold_batchnorm_keeps_the_output():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4), nn.ReLU())
    with torch.no_grad():
        net[1].running_mean.uniform_(-1, 1)
        net[1].running_var.uniform_(0.5, 2)
    net.eval()
    x = torch.randn(2, 3, 8, 8)
    expected = net(x)
    folded = fold_batchnorm(net)
    assert isinstance(folded[1], nn.Identity)
    assert torch.allclose(folded(x), expected, atol=1e-5)


def test_inference_net_predicts_as_the_checkpoint(tiny_ckpt):
    regressor = load_crop_model(tiny_ckpt, device="cpu").regressor
    reference = CropNet.of(regressor).eval()
    net = inference_net(regressor, IMAGE_SIZE)
    assert net is not reference
    images = torch.randn(3, 3, IMAGE_SIZE, IMAGE_SIZE, generator=torch.Generator().manual_seed(1))
    aspect = torch.tensor([0.7, 1.0, 1.5])
    with torch.inference_mode():
        assert (net(images, aspect) - reference(images, aspect)).abs().max() <= 1e-4
