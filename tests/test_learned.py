"""Learned codecs: the bitstream carries exactly the latent that analyze() describes."""

import pytest
import torch

from hmxai.codecs import codec_for, create_codec, list_codecs
from hmxai.codecs.container import load
from hmxai.errors import BitstreamError

LEARNED = list_codecs(learned=True)


@pytest.fixture(scope="module")
def codecs():
    return {name: create_codec(name, quality=1) for name in LEARNED}


@pytest.mark.parametrize("name", LEARNED)
def test_round_trip_bit_exact(name, codecs, small):
    codec = codecs[name]
    r = codec.analyze(small)
    enc = codec.compress(small)
    # through the file bytes, as a separate reader would
    enc2 = load(enc.to_bytes())
    y_hat, x_hat = codec.decode_latent(enc2)
    assert torch.equal(y_hat, r.y_hat), "decoded latent differs from the analysed one"
    assert torch.equal(x_hat, r.x_hat)
    assert torch.equal(codec.decompress(enc2), r.x_hat)
    # CompressAI's own decoder agrees with ours
    lengths = enc.params["lengths"]
    parts, start = [], 0
    for n in lengths:
        parts.append([enc.payload[start : start + n]])
        start += n
    gain = dict(stage=2, inputscale=codec.gain) if codec.continuous else {}  # a variable-rate model's quality
    with torch.no_grad():
        own = codec.model.decompress(parts, enc.params["shape"], **gain)["x_hat"].clamp(0, 1)
    assert torch.equal(own[..., :64, :96], x_hat)


@pytest.mark.parametrize("name", ["mbt2018-mean", "mbt2018"])
def test_compress_is_deterministic_and_codec_for_rebuilds(name, codecs, small):
    a, b = codecs[name].compress(small), codecs[name].compress(small)
    assert a.payload == b.payload and a.to_bytes() == b.to_bytes()
    rebuilt = codec_for(load(a.to_bytes()))  # seeded random init: same weights, new object
    assert rebuilt is not codecs[name]
    assert torch.equal(rebuilt.decompress(a), codecs[name].decompress(a))


def test_bit_accounting_is_consistent(codecs, small):
    for name in ("bmshj2018-factorized", "mbt2018-mean"):
        r = codecs[name].analyze(small)
        assert torch.allclose(r.bits_per_channel.sum(1), r.bits_per_position.sum((1, 2)))
        assert torch.allclose(r.estimated_bits, r.latent_bits + r.side_bits)
        assert torch.allclose(r.estimated_bpp * r.num_pixels, r.estimated_bits)
        assert r.num_pixels == 64 * 96
        if name == "bmshj2018-factorized":
            assert r.z is None and float(r.side_bits[0]) == 0.0 and r.side_bits_per_position is None
        else:
            assert float(r.side_bits[0]) > 0 and r.means is not None
            assert torch.allclose(r.side_bits_per_position.sum((1, 2)), r.side_bits)


def test_bits_from_known_likelihoods():
    """Analytic: likelihood 1/2 everywhere is one bit per element, 1/4 two bits."""
    from hmxai.types import LatentResult

    y = torch.zeros(2, 4, 3, 5)
    r = LatentResult("t", 1, torch.zeros(2, 3, 48, 80), y, y, torch.full_like(y, 0.5), (48, 80), (48, 80),
                     z=torch.zeros(2, 2, 1, 2), z_hat=torch.zeros(2, 2, 1, 2),
                     z_likelihoods=torch.full((2, 2, 1, 2), 0.25))
    assert torch.equal(r.bits_per_channel, torch.full((2, 4), 15.0, dtype=torch.float64))
    assert torch.equal(r.bits_per_position, torch.full((2, 3, 5), 4.0, dtype=torch.float64))
    assert torch.equal(r.side_bits, torch.full((2,), 8.0, dtype=torch.float64))
    assert torch.allclose(r.estimated_bpp, torch.full((2,), 68 / (48 * 80), dtype=torch.float64))


def test_analyze_batch_matches_single(codecs, small):
    codec = codecs["mbt2018-mean"]
    batch = torch.cat([small, small.flip(-1)])
    rb = codec.analyze(batch)
    r0 = codec.analyze(small)
    assert torch.allclose(rb.y_hat[:1], r0.y_hat) and torch.allclose(rb.bits_per_channel[:1], r0.bits_per_channel)


@pytest.mark.data
@pytest.mark.parametrize("name", ["bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018-mean"])
def test_measured_close_to_estimated_on_kodak(name, kodak_crops, codecs):
    codec = codecs[name]
    for x in kodak_crops:
        est = float(codec.analyze(x).estimated_bits[0])
        enc = codec.compress(x)
        header_bits = 8 * enc.header_bytes
        assert abs(enc.measured_bits - est) <= 0.02 * est + header_bits, (enc.measured_bits, est)
        assert 8 * enc.file_bytes <= 1.02 * est + header_bits


def test_wrong_weights_refused(codecs, small):
    enc = codecs["mbt2018-mean"].compress(small)
    import copy

    tampered = copy.deepcopy(codecs["mbt2018-mean"])
    with torch.no_grad():
        tampered.model.g_s[0].weight.add_(0.01)
    tampered._weights_id = None
    with pytest.raises(BitstreamError, match="other weights"):
        tampered.decompress(enc)


def test_payload_length_mismatch_refused(codecs, small):
    from dataclasses import replace

    enc = codecs["mbt2018-mean"].compress(small)
    with pytest.raises(BitstreamError, match="announces"):
        codecs["mbt2018-mean"].decompress(replace(enc, payload=enc.payload[:-3]))
    with pytest.raises(BitstreamError, match="not 'mbt2018'"):
        codecs["mbt2018"].decompress(enc)
    bad = replace(enc, params={**enc.params, "shape": [9, 9]})
    with pytest.raises(BitstreamError, match="latent shape"):
        codecs["mbt2018-mean"].decompress(bad)


def test_weights_id_follows_in_place_changes(small):
    """Fine-tuning a codec's model in place never leaves a stale id: streams record the weights they need."""
    codec = create_codec("bmshj2018-factorized", quality=1)
    first = codec.weights_id
    assert codec.weights_id == first  # unchanged weights: the same id (cached)
    enc = codec.compress(small)
    saved = codec.model.g_s[0].weight.detach().clone()
    with torch.no_grad():
        codec.model.g_s[0].weight.mul_(1.01)
    assert codec.weights_id != first
    with pytest.raises(BitstreamError, match="other weights"):
        codec.decompress(enc)
    with torch.no_grad():
        codec.model.g_s[0].weight.copy_(saved)
    assert codec.weights_id == first  # the same values again: recomputed, equal
    codec.decompress(enc)
