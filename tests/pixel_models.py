"""Tiny task models and hand-made ladders for the pixel-explanation tests."""

import pytest
import torch
from torch import nn

from hmxai.tasks.base import wrap_task
from hmxai.types import Prediction
from hmxai.types.ladder import RateLadder

SIDE = 48


class Quadrant(nn.Module):
    """Keeps only the top-right quadrant of the image (not symmetric: a transposed map would fail)."""

    def forward(self, x):
        mask = torch.zeros_like(x)
        mask[..., : x.shape[-2] // 2, x.shape[-1] // 2 :] = 1
        return x * mask


def quadrant_task(batch_norm: bool = True):
    """Class 1's logit grows with the brightness of the top-right quadrant; conv, BN, ReLU: a real stack."""
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
    layers = [Quadrant(), conv] + ([nn.BatchNorm2d(8)] if batch_norm else []) + [nn.ReLU()]
    net = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3))
    with torch.no_grad():
        conv.weight.abs_()
        net[-1].weight.zero_()
        net[-1].weight[1] = 0.4
        if batch_norm:
            bn = net[2]
            bn.running_mean.uniform_(0.0, 0.2)
            bn.running_var.uniform_(0.5, 1.5)
    return wrap_task(net, num_classes=3, target_layer="2" if not batch_norm else "3", name="quadrant")


def image(seed: int = 1) -> torch.Tensor:
    """A smooth random image (segments are meaningful, not pixel noise)."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, 12, 12, generator=g)
    return torch.nn.functional.interpolate(coarse, size=(SIDE, SIDE), mode="bilinear", align_corners=False)


def ladder_of(task, images, codecs=None) -> RateLadder:
    """A ladder over given images (row 0 the original) with the task's real predictions."""
    r = images.shape[0] - 1
    with torch.no_grad():
        preds = tuple(task.predict(images, k=3))
    assert all(isinstance(p, Prediction) for p in preds)
    return RateLadder(images=images, codecs=tuple(codecs or ["made"] * r), qualities=tuple(range(1, r + 1)),
                      measured_bpp=tuple(float(i) for i in range(1, r + 1)), psnr=(30.0,) * r, ms_ssim=(0.9,) * r,
                      task=task.name, predictions=preds)


def hooks(module: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._backward_hooks) + len(m._forward_pre_hooks) for m in module.modules())


@pytest.fixture(scope="module")
def task():
    """The quadrant model (with batch norm), shared by a test module."""
    return quadrant_task()


@pytest.fixture(scope="module")
def ladder(task):
    """Original, a darker copy, a mirrored copy: three rows the quadrant model sees differently."""
    x = image()
    return ladder_of(task, torch.cat([x, (x * 0.8).clamp(0, 1), x.flip(-1)]))
