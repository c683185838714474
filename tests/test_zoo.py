"""The shipped zoo: offline, safe, bit-exact, trained, and as good as its model card says."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hmxai.codecs import create_codec
from hmxai.codecs.container import load
from hmxai.codecs.zoo import ZOO_DIR, zoo_card, zoo_weights_path
from hmxai.errors import CheckpointError

QUALITIES = range(1, 6)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def zoo():
    return {q: create_codec("hmxai-msh", quality=q) for q in QUALITIES}


def test_zoo_ships_compact_safetensors():
    files = [zoo_weights_path("hmxai-msh", q) for q in QUALITIES]
    assert all(p.is_file() and p.suffix == ".safetensors" for p in files)
    assert sum(p.stat().st_size for p in files) <= 25 * 2**20


@pytest.mark.parametrize("q", QUALITIES)
def test_round_trip_bit_exact_and_bits_on_kodak(q, zoo, kodak_crops):
    codec = zoo[q]
    assert codec.weights.startswith("hmxai zoo")
    for x in kodak_crops:
        r = codec.analyze(x)
        enc = codec.compress(x)
        y_hat, x_hat = codec.decode_latent(load(enc.to_bytes()))
        assert torch.equal(y_hat, r.y_hat) and torch.equal(x_hat, r.x_hat)
        est = float(r.estimated_bits[0])
        assert abs(enc.measured_bits - est) <= 0.01 * est + 8 * enc.header_bytes, (enc.measured_bits, est)


def test_rate_increases_with_quality_and_beats_jpeg(zoo, kodak_crops):
    from hmxai.metrics import psnr

    x = kodak_crops[0]
    points = []
    for q in QUALITIES:
        enc, x_hat, _, _ = zoo[q].roundtrip(x)
        points.append((enc.measured_bpp, float(psnr(x, x_hat)[0])))
    assert all(a[0] < b[0] and a[1] < b[1] for a, b in zip(points, points[1:])), points
    # at q3, JPEG needs more bits for the same PSNR: the weights are trained, not random
    bpp3, psnr3 = points[2]
    for jq in range(5, 96, 5):
        enc, x_hat, _, _ = create_codec("jpeg", quality=jq).roundtrip(x)
        if float(psnr(x, x_hat)[0]) >= psnr3:
            assert enc.measured_bpp > bpp3
            break
    else:
        pytest.fail(f"no JPEG quality up to 95 reaches the zoo's {psnr3:.2f} dB at q3")


def test_tampered_or_truncated_weights_are_refused(tmp_path):
    from hmxai.codecs.checkpoints import load_state_dict

    data = zoo_weights_path("hmxai-msh", 3).read_bytes()
    (tmp_path / "t.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError):
        load_state_dict(tmp_path / "t.safetensors")
    (tmp_path / "h.safetensors").write_bytes(data[:8] + b"{garbage" + data[16:])
    with pytest.raises(CheckpointError):
        load_state_dict(tmp_path / "h.safetensors")
    with pytest.raises(CheckpointError, match="does not fit"):
        create_codec("bmshj2018-factorized", checkpoint=zoo_weights_path("hmxai-msh", 3))


@pytest.mark.slow
def test_benchmark_subset_reproduces_the_card():
    """The shipped model card's numbers, re-measured on one Kodak image (±0.05 dB, ±1 % bpp)."""
    card = zoo_card()
    out = subprocess.run([sys.executable, str(REPO / "benchmarks" / "kodak_card.py"), "--images", "1", "--no-anchors"],
                         capture_output=True, text=True, check=True, timeout=600).stdout
    fresh = json.loads(out)["results"]["hmxai-msh"]
    for q in QUALITIES:
        stored = {r["image"]: r for r in card["kodak"]["results"]["hmxai-msh"][str(q)]["per_image"]}
        for row in fresh[str(q)]["per_image"]:
            ref = stored[row["image"]]
            assert abs(row["psnr"] - ref["psnr"]) <= 0.05
            assert abs(row["measured_bpp"] - ref["measured_bpp"]) <= 0.01 * ref["measured_bpp"]


def test_card_is_complete():
    card = zoo_card()
    assert len(card["kodak"]["images"]) == 24
    assert set(card["training"]["qualities"]) == {str(q) for q in QUALITIES}
    assert (REPO / "docs" / "model-card.md").is_file()
    assert set(card["kodak"]["results"]) >= {"hmxai-msh", "jpeg", "webp", "avif", "heif"}


@pytest.mark.slow
def test_vbr_card_matches_the_shipped_weights():
    """hmxai-vbr's card, re-measured on one Kodak image at named and fractional qualities (±0.05 dB, ±1 % bpp)."""
    card = zoo_card("hmxai-vbr")
    out = subprocess.run([sys.executable, str(REPO / "benchmarks" / "kodak_card.py"), "--codec", "hmxai-vbr",
                          "--images", "1", "--no-anchors"], capture_output=True, text=True, check=True,
                         timeout=900).stdout
    fresh = json.loads(out)["results"]["hmxai-vbr"]
    for q in ("1", "2.5", "4", "6"):
        stored = {r["image"]: r for r in card["kodak"]["results"]["hmxai-vbr"][q]["per_image"]}
        for row in fresh[q]["per_image"]:
            ref = stored[row["image"]]
            assert abs(row["psnr"] - ref["psnr"]) <= 0.05
            assert abs(row["measured_bpp"] - ref["measured_bpp"]) <= 0.01 * ref["measured_bpp"]


def test_vbr_card_is_complete():
    card = zoo_card("hmxai-vbr")
    results = card["kodak"]["results"]
    assert len(card["kodak"]["images"]) == 24
    assert {str(q) for q in range(1, 7)} <= set(results["hmxai-vbr"])  # the named points
    assert {"1.5", "2.5", "5.5"} <= set(results["hmxai-vbr"])  # the continuous curve
    assert set(results) >= {"hmxai-vbr", "hmxai-msh", "jpeg", "webp", "avif", "heif"}  # the old zoo as a row
    assert set(card["training"]["qualities"]) == {str(q) for q in range(1, 7)}
    assert [s["run"] for s in card["training"]["stages"]][0] == "vbr-gpu"
    assert (REPO / "docs" / "model-card-vbr.md").is_file()
