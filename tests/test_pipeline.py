import json

import pytest
import torch

from hmxai.codecs import create_codec
from hmxai.metrics import ms_ssim, psnr
from hmxai.pipeline import run_pipeline


def test_classical_pipeline_fields(chelsea, lite0):
    codec = create_codec("jpeg", quality=15)
    r = run_pipeline(chelsea, codec, lite0, label=282, image_name="chelsea")
    enc = codec.compress(chelsea)
    x_hat = codec.decompress(enc)
    assert r.measured_bpp == enc.measured_bpp and r.file_bytes == enc.file_bytes
    assert r.estimated_bpp is None
    assert r.psnr == pytest.approx(float(psnr(chelsea, x_hat)[0]))
    assert r.ms_ssim == pytest.approx(float(ms_ssim(chelsea, x_hat)[0]))
    p_orig, p_dec = lite0.predict(torch.cat([chelsea, x_hat]))
    assert r.original.indices == p_orig.indices and r.decoded.indices == p_dec.indices
    assert r.top1_agreement == (p_orig.top1 == p_dec.top1)
    assert r.correct_original == (p_orig.top1 == 282) and r.correct_decoded == (p_dec.top1 == 282)
    d = r.to_dict()
    json.dumps(d)
    assert set(d) >= {"measured_bpp", "estimated_bpp", "psnr", "ms_ssim", "top1_agreement", "original", "decoded"}


def test_learned_pipeline_has_both_rates(small, lite0):
    codec = create_codec("mbt2018-mean", quality=1)
    r = run_pipeline(small, codec, lite0)
    latent = codec.analyze(small)
    assert r.estimated_bpp == pytest.approx(float(latent.estimated_bpp[0]))
    assert r.measured_bpp == codec.compress(small).measured_bpp
    assert r.measured_bpp != r.estimated_bpp
    assert r.psnr == pytest.approx(float(psnr(small, latent.x_hat)[0]))
    assert r.label is None and r.correct_decoded is None


def test_pipeline_by_names_and_lossless_agreement(small):
    r = run_pipeline(small, "jpeg", "efficientnet-lite0", quality=100)
    assert r.codec == "jpeg" and r.quality == 100 and r.task == "efficientnet-lite0"
    assert r.psnr > 40 and r.top1_agreement
    with pytest.raises(ValueError, match="quality"):
        run_pipeline(small, create_codec("jpeg", quality=10), quality=20)


def test_max_pixels_reaches_every_step(monkeypatch, small):
    """run_pipeline(max_pixels=...) is the limit for the whole run, not only for loading."""
    from hmxai.errors import InvalidImageError

    monkeypatch.setenv("HMXAI_MAX_PIXELS", "1000")
    with pytest.raises(InvalidImageError):
        run_pipeline(small, "jpeg")
    assert run_pipeline(small, "jpeg", max_pixels=10_000).measured_bpp > 0
