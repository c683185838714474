import math

import pytest
import torch

from hmxai.metrics import ms_ssim, ms_ssim_db, ms_ssim_scales, mse, psnr


def test_psnr_analytic():
    x = torch.full((2, 3, 32, 32), 0.5)
    assert torch.allclose(psnr(x, x + 0.1), torch.full((2,), 20.0, dtype=torch.float64))
    assert torch.allclose(mse(x, x + 0.1), torch.full((2,), 0.01, dtype=torch.float64))
    assert math.isinf(float(psnr(x, x)[0]))


def test_ms_ssim_matches_pytorch_msssim_on_large_images():
    from pytorch_msssim import ms_ssim as reference

    g = torch.Generator().manual_seed(0)
    for shape in [(2, 3, 256, 256), (1, 3, 301, 451)]:
        x = torch.rand(shape, generator=g)
        y = (x + 0.08 * torch.randn(shape, generator=g)).clamp(0, 1)
        assert torch.allclose(ms_ssim(x, y).float(), reference(x, y, data_range=1.0, size_average=False), atol=1e-5)


def test_ms_ssim_small_images_use_fewer_scales():
    assert ms_ssim_scales(512, 768) == 5 and ms_ssim_scales(176, 400) == 5
    assert ms_ssim_scales(64, 96) == 3 and ms_ssim_scales(16, 16) == 1
    x = torch.rand(1, 3, 64, 96)
    assert float(ms_ssim(x, x)[0]) == pytest.approx(1.0)
    assert float(ms_ssim(x, (x + 0.2).clamp(0, 1))[0]) < float(ms_ssim(x, (x + 0.05).clamp(0, 1))[0]) < 1


def test_shape_mismatch_and_db_scale():
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(torch.rand(1, 3, 20, 20), torch.rand(1, 3, 20, 21))
    assert ms_ssim_db(0.99) == pytest.approx(20.0)
