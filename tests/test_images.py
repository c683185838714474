import io

import numpy as np
import pytest
import torch
from PIL import Image

from hmxai.errors import InvalidImageError
from hmxai.images import MIN_SIDE, crop_to, load_image, pad_to_multiple


def _rgb(h=20, w=30, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_rgb_uint8_array_scaled_by_255():
    a = _rgb()
    x = load_image(a)
    assert x.shape == (1, 3, 20, 30) and x.dtype == torch.float32
    assert torch.allclose(x[0].permute(1, 2, 0), torch.from_numpy(a).float() / 255)


def test_same_pixels_from_path_pil_array_tensor(tmp_path):
    a = _rgb()
    Image.fromarray(a).save(tmp_path / "a.png")
    xs = [
        load_image(tmp_path / "a.png"),
        load_image(str(tmp_path / "a.png")),
        load_image(Image.fromarray(a)),
        load_image(a),
        load_image(torch.from_numpy(a).permute(2, 0, 1)),
        load_image(torch.from_numpy(a).float().div(255).permute(2, 0, 1).unsqueeze(0)),
    ]
    for x in xs[1:]:
        assert torch.allclose(x, xs[0], atol=1e-7)


def test_grayscale_replicated():
    g = _rgb()[..., 0]
    for src in (g, Image.fromarray(g, "L"), g[..., None]):
        x = load_image(src)
        assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 1], x[:, 2])
        assert torch.allclose(x[0, 0], torch.from_numpy(g).float() / 255)


def test_rgba_composited_over_white():
    a = np.zeros((20, 30, 4), np.uint8)
    a[..., 0] = 255          # red
    a[:, :15, 3] = 255       # left half opaque
    a[:, 15:, 3] = 0         # right half transparent -> white
    for src in (a, Image.fromarray(a, "RGBA")):
        x = load_image(src)
        assert torch.allclose(x[0, :, 0, 0], torch.tensor([1.0, 0.0, 0.0]))
        assert torch.allclose(x[0, :, 0, 29], torch.ones(3))


def test_half_alpha_blends():
    a = np.zeros((20, 20, 4), np.uint8)
    a[..., 3] = 51  # black at alpha 0.2 -> 0.8 white
    x = load_image(a)
    assert torch.allclose(x, torch.full_like(x, 0.8), atol=1e-6)


def test_palette_with_transparency(tmp_path):
    img = Image.new("P", (20, 20), 0)
    img.putpalette([0, 0, 255] + [0, 255, 0] * 255)
    img.info["transparency"] = 0
    img.save(tmp_path / "p.png", transparency=0)
    x = load_image(tmp_path / "p.png")
    assert torch.allclose(x, torch.ones_like(x))  # fully transparent -> white
    img2 = Image.new("P", (20, 20), 1)
    img2.putpalette([0, 0, 255] + [0, 255, 0] * 255)
    x2 = load_image(img2)
    assert torch.allclose(x2[0, :, 0, 0], torch.tensor([0.0, 1.0, 0.0]))


def test_16bit_png_keeps_precision(tmp_path):
    g = (np.arange(20 * 30, dtype=np.uint16).reshape(20, 30) * 97).astype(np.uint16)
    Image.fromarray(g).save(tmp_path / "g16.png")
    x = load_image(tmp_path / "g16.png")
    expect = torch.from_numpy(g.astype(np.float64) / 65535).float()
    assert torch.allclose(x[0, 0], expect, atol=1e-7)
    assert torch.allclose(load_image(g)[0, 0], expect, atol=1e-7)
    # more than 256 distinct levels survive
    assert len(torch.unique(x)) > 256


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((0, 10, 3), np.uint8), "empty"),
        (np.full((20, 20, 3), np.nan, np.float32), "NaN"),
        (np.full((20, 20, 3), 2.0, np.float32), r"\[0, 1\]"),
        (np.zeros((20, 20, 2), np.uint8), "shape"),
        (np.zeros((20, 20, 3), np.int64), "dtype"),
        (np.zeros((MIN_SIDE - 1, 40, 3), np.uint8), "at least"),
        (torch.zeros(2, 3, 20, 20), "batch"),
        (torch.zeros(5, 20, 20), "shape"),
        (torch.full((3, 20, 20), float("inf")), "NaN or infinite"),
        (12345, "cannot read"),
    ],
)
def test_bad_input_clear_error(bad, message):
    with pytest.raises(InvalidImageError, match=message):
        load_image(bad)


def test_unreadable_and_missing_files(tmp_path):
    (tmp_path / "notes.png").write_text("this is not an image")
    with pytest.raises(InvalidImageError, match="not a readable image"):
        load_image(tmp_path / "notes.png")
    with pytest.raises(InvalidImageError, match="does not exist"):
        load_image(tmp_path / "missing.png")
    buf = io.BytesIO()
    Image.fromarray(_rgb(64, 64)).save(buf, "PNG")
    (tmp_path / "trunc.png").write_bytes(buf.getvalue()[:200])
    with pytest.raises(InvalidImageError):
        load_image(tmp_path / "trunc.png")


def test_pixel_limit_parameter_and_env(tmp_path, monkeypatch):
    a = _rgb(40, 50)
    Image.fromarray(a).save(tmp_path / "a.png")
    with pytest.raises(InvalidImageError, match="over the limit of 1,000"):
        load_image(tmp_path / "a.png", max_pixels=1000)
    assert load_image(a, max_pixels=2000).shape == (1, 3, 40, 50)
    monkeypatch.setenv("HMXAI_MAX_PIXELS", "1999")
    with pytest.raises(InvalidImageError, match="HMXAI_MAX_PIXELS"):
        load_image(a)
    monkeypatch.setenv("HMXAI_MAX_PIXELS", "2000")
    assert load_image(a).shape[-2:] == (40, 50)


@pytest.mark.parametrize("h, w, m", [(64, 96, 64), (17, 33, 16), (64, 64, 64), (300, 451, 64)])
def test_pad_and_crop_round_trip(h, w, m):
    x = torch.rand(1, 3, h, w)
    xp, size = pad_to_multiple(x, m)
    assert xp.shape[-2] % m == 0 and xp.shape[-1] % m == 0
    assert xp.shape[-2] - h < m and xp.shape[-1] - w < m
    assert size == (h, w) and torch.equal(crop_to(xp, size), x)
    # replicate padding: the last row/column repeat
    assert torch.equal(xp[..., -1, :w], x[..., -1, :])
