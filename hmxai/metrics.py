"""Image-quality metrics on (B, 3, H, W) tensors in [0, 1]: PSNR and MS-SSIM.

MS-SSIM follows Wang, Simoncelli and Bovik (2003) as CompressAI's results
do (through ``pytorch_msssim``): Gaussian window 11 / sigma 1.5, K1 = 0.01,
K2 = 0.03, five scales with weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333),
valid filtering, 2x2 average pooling, per RGB channel then averaged.

**Small images** (shortest side under 176 px) cannot hold five scales; we
then use the first S scales with S the largest that keeps the window inside
the coarsest scale, and renormalize their weights to sum to one. The value
is still 1 for identical images and comparable between codecs on the same
image, but not with five-scale values in the literature: :func:`ms_ssim_scales`
tells how many scales a size uses.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from hmxai.errors import InvalidArgumentError

_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_WIN, _SIGMA, _K1, _K2 = 11, 1.5, 0.01, 0.03


def mse(x: Tensor, y: Tensor) -> Tensor:
    """(B,) mean squared error in float64."""
    _same_shape(x, y)
    return ((x.double() - y.double()) ** 2).flatten(1).mean(1)


def psnr(x: Tensor, y: Tensor, data_range: float = 1.0) -> Tensor:
    """(B,) PSNR in dB; ``inf`` for identical images."""
    err = mse(x, y)
    return 10.0 * torch.log10(data_range**2 / err)


def ms_ssim_scales(height: int, width: int) -> int:
    """How many MS-SSIM scales an image of this size supports (1..5)."""
    side = min(height, width)
    scales = 1
    while scales < len(_WEIGHTS) and side // (2**scales) >= _WIN:
        scales += 1
    return scales


def _gaussian(device, dtype) -> Tensor:
    coords = torch.arange(_WIN, dtype=dtype, device=device) - _WIN // 2
    g = torch.exp(-(coords**2) / (2 * _SIGMA**2))
    return g / g.sum()


def _filter(x: Tensor, g: Tensor) -> Tensor:
    c = x.shape[1]
    x = F.conv2d(x, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def _ssim_cs(x: Tensor, y: Tensor, g: Tensor, data_range: float):
    c1, c2 = (_K1 * data_range) ** 2, (_K2 * data_range) ** 2
    c = x.shape[1]
    mu_x, mu_y, xx, yy, xy = _filter(torch.cat([x, y, x * x, y * y, x * y], dim=1), g).split(c, dim=1)
    sxx = xx - mu_x**2
    syy = yy - mu_y**2
    sxy = xy - mu_x * mu_y
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    ssim = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1) * cs
    return ssim.flatten(2).mean(-1), cs.flatten(2).mean(-1)  # (B, C) each


def ms_ssim(x: Tensor, y: Tensor, data_range: float = 1.0, dtype: torch.dtype = torch.float64) -> Tensor:
    """(B,) MS-SSIM (see the module docstring for small images).

    Computed in ``dtype``: float64 (default) for reported numbers; float32 is about 3x
    faster on a CPU and used inside explanations, where only differences matter.
    """
    _same_shape(x, y)
    x, y = x.to(dtype), y.to(dtype)
    scales = ms_ssim_scales(*x.shape[-2:])
    weights = torch.tensor(_WEIGHTS[:scales], dtype=dtype, device=x.device)
    weights = weights / weights.sum()
    g = _gaussian(x.device, dtype)
    values = []
    for s in range(scales):
        ssim, cs = _ssim_cs(x, y, g, data_range)
        values.append(torch.relu(ssim if s == scales - 1 else cs))
        if s < scales - 1:
            pad = (x.shape[-2] % 2, x.shape[-1] % 2)  # as pytorch_msssim does
            x = F.avg_pool2d(x, 2, padding=pad)
            y = F.avg_pool2d(y, 2, padding=pad)
    stacked = torch.stack(values, dim=0)  # (S, B, C)
    return torch.prod(stacked ** weights.view(-1, 1, 1), dim=0).mean(1)


def ms_ssim_db(value: float) -> float:
    """MS-SSIM on the dB scale papers plot: -10 log10(1 - MS-SSIM)."""
    return float("inf") if value >= 1.0 else -10.0 * math.log10(1.0 - value)


def _same_shape(x: Tensor, y: Tensor) -> None:
    if x.shape != y.shape:
        raise InvalidArgumentError(f"images differ in shape: {tuple(x.shape)} vs {tuple(y.shape)}")
