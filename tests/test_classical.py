"""Classical codecs: real files of their format, decoded exactly as the format's own decoder does."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from hmxai.codecs import create_codec, list_codecs
from hmxai.errors import BitstreamError
from hmxai.images import to_uint8
from hmxai.metrics import psnr

CLASSICAL = list_codecs(learned=False)


def _reference_decode(name, data):
    """Each format's decoder, called directly on the payload bytes."""
    if name == "heif":
        import pillow_heif

        return np.asarray(pillow_heif.open_heif(io.BytesIO(data))[0].to_pillow().convert("RGB"))
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == {"jpeg": "JPEG", "webp": "WEBP", "jpeg2000": "JPEG2000", "avif": "AVIF"}[name]
        return np.asarray(img.convert("RGB"))


@pytest.mark.parametrize("name", CLASSICAL)
def test_bytes_decode_as_the_format_decoder_does(name, chelsea):
    x = chelsea[..., :99, :131].contiguous()  # odd sizes on purpose
    codec = create_codec(name)
    enc = codec.compress(x)
    ref = _reference_decode(name, enc.payload)
    ours = codec.decompress(enc)
    assert ref.shape == (99, 131, 3)
    assert np.array_equal(to_uint8(ours), ref)
    assert enc.measured_bits == 8 * len(enc.payload)


def test_jpeg_independent_decoder_agrees(chelsea):
    from torchvision.io import decode_jpeg

    enc = create_codec("jpeg", quality=40).compress(chelsea)
    tv = decode_jpeg(torch.frombuffer(bytearray(enc.payload), dtype=torch.uint8))
    ours = to_uint8(create_codec("jpeg", quality=40).decompress(enc))
    diff = np.abs(tv.permute(1, 2, 0).numpy().astype(int) - ours.astype(int))
    assert diff.max() <= 1  # two libjpeg builds may round the IDCT differently by one level


def test_chroma_is_444_where_the_format_allows(chelsea):
    from PIL import JpegImagePlugin

    enc = create_codec("jpeg").compress(chelsea)
    with Image.open(io.BytesIO(enc.payload)) as img:
        assert JpegImagePlugin.get_sampling(img) == 0  # 4:4:4
    import pillow_heif

    enc = create_codec("heif").compress(chelsea)
    assert pillow_heif.open_heif(io.BytesIO(enc.payload)).info["chroma"] == 444
    assert "4:2:0" in create_codec("webp").describe()["chroma"]


@pytest.mark.parametrize("name", CLASSICAL)
def test_higher_quality_costs_more_bits_and_gives_higher_psnr(name, chelsea):
    lo, hi = create_codec(name).quality_range
    qs = (lo + (hi - lo) // 5, lo + 4 * (hi - lo) // 5)
    x = chelsea[..., :128, :192].contiguous()
    out = []
    for q in qs:
        c = create_codec(name, quality=q)
        enc = c.compress(x)
        out.append((enc.measured_bits, float(psnr(x, c.decompress(enc))[0])))
    assert out[1][0] > out[0][0] and out[1][1] > out[0][1], out


@pytest.mark.parametrize("name", CLASSICAL)
def test_truncated_or_foreign_payload_is_a_clear_error(name, small):
    from dataclasses import replace

    codec = create_codec(name)
    enc = codec.compress(small)
    with pytest.raises(BitstreamError):
        codec.decompress(replace(enc, payload=enc.payload[: len(enc.payload) // 3]))
    with pytest.raises(BitstreamError, match="not a"):
        codec.decompress(replace(enc, payload=b"GIF89a" + enc.payload))
    with pytest.raises(BitstreamError, match="header says"):
        codec.decompress(replace(enc, image_size=(65, 96)))


@pytest.mark.parametrize("quality", [1, 10, 50, 75, 90, 95, 100])
def test_jpeg_bytes_are_libjpegs_own_for_each_quality(quality, chelsea):
    """hmxai passes libjpeg's tables for quality q explicitly: the file must be byte for byte the
    one Pillow writes with quality=q (where Pillow's own path works)."""
    img = Image.fromarray(to_uint8(chelsea))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality, subsampling=0, optimize=True)
    assert create_codec("jpeg", quality=quality).compress(chelsea).payload == buf.getvalue()


def test_jpeg_high_quality_on_a_detailed_image_above_8_bpp():
    """Pillow's quality=90 path sizes its buffer at 8 bpp and fails ('broken data stream') on images
    that need more in 4:4:4; hmxai's codec encodes them and decodes back."""
    g = np.random.default_rng(0)
    noise = torch.from_numpy(g.random((1, 3, 320, 320), dtype=np.float32))  # over Pillow's 64 KiB minimum
    with pytest.raises(OSError):
        Image.fromarray(to_uint8(noise)).save(io.BytesIO(), "JPEG", quality=90, subsampling=0, optimize=True)
    codec = create_codec("jpeg", quality=90)
    encoded = codec.compress(noise)
    assert encoded.measured_bpp > 8
    assert float(psnr(noise, codec.decompress(encoded))[0]) > 25
