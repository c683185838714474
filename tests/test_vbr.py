"""The variable-rate codec (hmxai-vbr): continuous quality, real bitstreams, its training recipe."""

import math
from pathlib import Path
from dataclasses import replace

import pytest
import torch

from hmxai.codecs import codec_for, create_codec
from hmxai.codecs.container import dump, load
from hmxai.codecs.vbr_model import QualityScale, VariableRateMSH
from hmxai.errors import BitstreamError
from hmxai.train.vbr import VbrTrainer, _ste_quantize, rd_loss, set_ste_rate
from hmxai.train.vbr_config import VbrConfig

FRACTIONS = (1.0, 1.5, 2.75, 4.2, 6.0)


@pytest.fixture(scope="module")
def vbr():
    return {q: create_codec("hmxai-vbr", quality=q) for q in FRACTIONS}


# ---------------------------------------------------------------------------------------- quality scale
def test_quality_scale_is_log_linear_and_gain_follows_sqrt_lambda():
    s = QualityScale((0.001, 0.004, 0.016))
    assert s.range == (1.0, 3.0)
    for q, lam in zip((1, 2, 3), s.lambdas):
        assert s.lmbda(q) == pytest.approx(lam, rel=1e-12)
    assert s.lmbda(1.5) == pytest.approx(0.002, rel=1e-12)  # geometric mean of 0.001 and 0.004
    assert s.gain(3) == pytest.approx(1.0)
    assert s.gain(1) == pytest.approx(math.sqrt(0.001 / 0.016))
    gains = [s.gain(1 + 0.25 * i) for i in range(9)]
    assert all(b > a for a, b in zip(gains, gains[1:]))


@pytest.mark.parametrize("bad", [float("nan"), 0.99, 6.01, -1, True, "3", float("inf")])
def test_bad_quality_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="quality must be a number in 1..6"):
        create_codec("hmxai-vbr", quality=bad)


def test_integer_codecs_still_refuse_fractions():
    with pytest.raises(ValueError, match="integer"):
        create_codec("hmxai-msh", quality=2.5)


# ---------------------------------------------------------------------------------------- shipped weights
def test_shipped_weights_round_trip_bit_exactly_at_fractional_qualities(vbr, kodak_crops):
    x = kodak_crops[0]
    for q, codec in vbr.items():
        assert codec.quality == q and codec.weights.startswith("hmxai zoo")
        encoded = codec.compress(x)
        file = load(dump(encoded))  # through the .hmx container: the quality is a float in its header
        assert file.quality == q
        again = codec_for(file)
        y_hat, x_hat = again.decode_latent(file)
        latent = codec.analyze(x)
        assert torch.equal(latent.y_hat, y_hat) and torch.equal(latent.x_hat, x_hat)
        assert torch.equal(codec.decompress(encoded), x_hat)
        assert codec.compress(x).payload == encoded.payload  # deterministic


def test_measured_bits_match_the_estimate(vbr, kodak_crops):
    """Measured bits (the bitstream's bytes) within 1 % of the likelihoods' estimate, plus the header."""
    for x in kodak_crops:
        for codec in vbr.values():
            estimated = float(codec.analyze(x).estimated_bits[0])
            enc = codec.compress(x)
            assert abs(enc.measured_bits - estimated) <= 0.01 * estimated + 8 * enc.header_bytes, (
                codec.quality, enc.measured_bits, estimated)


def test_rate_is_monotone_in_quality(kodak_crops):
    qualities = [1 + 0.5 * i for i in range(11)]
    for x in kodak_crops:
        rates = [create_codec("hmxai-vbr", quality=q).compress(x).measured_bpp for q in qualities]
        assert all(b > a for a, b in zip(rates, rates[1:])), rates


def test_a_stream_decodes_only_at_its_own_quality(vbr, small):
    encoded = vbr[2.75].compress(small)
    with pytest.raises(BitstreamError, match="quality 2.75"):
        vbr[4.2].decompress(encoded)


def test_compress_latent_codes_the_changed_latent(vbr, small):
    codec = vbr[4.2]
    latent, encoded = codec.analyze(small), codec.compress(small)
    y_hat = latent.y_hat.clone()
    y_hat[:, :40] = latent.means[:, :40]  # channels at their most probable value: symbol 0
    changed = codec.compress_latent(y_hat, latent, encoded)
    decoded, _ = codec.decode_latent(changed)
    assert torch.equal(decoded, y_hat)
    assert len(changed.payload) < len(encoded.payload)
    off_grid = latent.y_hat + 0.3 / codec.scale.gain(4.2)
    with pytest.raises(ValueError, match="quantization grid"):
        codec.compress_latent(off_grid, latent, encoded)


def test_describe_names_the_continuous_knob(vbr):
    d = vbr[2.75].describe()
    assert d["continuous"] is True and d["named_qualities"] == [1, 2, 3, 4, 5, 6]
    assert d["quality_range"] == [1, 6] and d["lmbda"] == pytest.approx(vbr[2.75].scale.lmbda(2.75))


# ---------------------------------------------------------------------------------------- training
TINY = VbrConfig(N=8, M=12, lambdas=(0.004, 0.016, 0.064), stage_steps=(2, 2, 2), batch=2, crop=64, warmup=1,
                 lr=1e-3, val_images=0, checkpoint_every=2, ema_decay=0.5, data=("x",), downscale=())


class _Sampler:
    def __init__(self, x, crop=64):
        self.x = x[..., :crop, :crop].repeat(2, 1, 1, 1).contiguous()

    def sample(self, batch, crop, generator):
        torch.rand((), generator=generator)  # the trainer's generator advances as with real crops
        return self.x


def test_ste_quantize_rounds_and_passes_gradients():
    model = VariableRateMSH(8, 12, (0.01, 0.02))
    gc = model.gaussian_conditional
    v = torch.tensor([0.2, 1.7, -2.6], requires_grad=True)
    means = torch.tensor([0.5, 0.5, 0.5])
    out = _ste_quantize(gc, v, "dequantize", means)
    assert torch.equal(out.detach(), torch.round(v.detach() - means) + means)
    out.sum().backward()
    assert torch.equal(v.grad, torch.ones(3))
    set_ste_rate(model, True)
    assert not gc.training and "quantize" in gc.__dict__
    set_ste_rate(model, False)
    assert "quantize" not in gc.__dict__ and gc.training == model.training


@pytest.mark.parametrize("stage", [1, 2, 3])
def test_one_step_lowers_the_loss_in_every_stage(stage, small, tmp_path):
    steps = {1: (5, 0, 0), 2: (0, 5, 0), 3: (0, 0, 5)}[stage]
    config = replace(TINY, stage_steps=steps, lr=3e-3, lr_stage3=3e-3, warmup=1)
    trainer = VbrTrainer(config, _Sampler(small), tmp_path)
    x = trainer.sampler.x
    q = 2.0 if stage > 1 else 3.0
    gain = torch.tensor(trainer.model.scale.gain(q))

    def loss():
        set_ste_rate(trainer.model, stage == 3)
        torch.manual_seed(0)
        out = trainer.model(x, stage=1) if stage == 1 else trainer.model(x, stage=2, inputscale=gain)
        set_ste_rate(trainer.model, False)
        return float(rd_loss(out, x, trainer.model.scale.lmbda(q))["loss"].detach())

    before = loss()
    trainer.draw_quality = lambda s: q
    stats = trainer.train_step()
    assert stats.stage == stage
    assert loss() < before
    assert trainer.model.training and trainer.model.gaussian_conditional.training


def test_resumed_run_continues_identically(small, tmp_path):
    straight = VbrTrainer(TINY, _Sampler(small), tmp_path / "a")
    straight.run(progress=False)
    first = VbrTrainer(TINY, _Sampler(small), tmp_path / "b")
    first.run(progress=False, stop_after=3)  # a checkpoint at step 2 and at the stop (step 3)
    resumed = VbrTrainer(TINY, _Sampler(small), tmp_path / "b")
    resumed.run(progress=False)
    assert resumed.step == straight.step == TINY.total
    for a, b in ((straight.model, resumed.model), (straight.ema, resumed.ema)):
        sa, sb = a.state_dict(), b.state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert straight.history == resumed.history


def test_resume_refuses_another_recipe(small, tmp_path):
    VbrTrainer(TINY, _Sampler(small), tmp_path).run(progress=False, stop_after=2)
    other = VbrTrainer(replace(TINY, lr=5e-3), _Sampler(small), tmp_path)
    with pytest.raises(ValueError, match="differs in \\['lr'\\]"):
        other.run(progress=False)


def test_a_truncated_or_foreign_checkpoint_is_a_clear_error(small, tmp_path):
    from hmxai.errors import CheckpointError

    trainer = VbrTrainer(TINY, _Sampler(small), tmp_path)
    trainer.run(progress=False, stop_after=2)
    data = (tmp_path / "state.pt").read_bytes()
    (tmp_path / "state.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cannot be read"):
        VbrTrainer(TINY, _Sampler(small), tmp_path).run(progress=False)
    torch.save({"weights": torch.zeros(2)}, tmp_path / "state.pt")
    with pytest.raises(CheckpointError, match="not an hmxai training checkpoint"):
        VbrTrainer(TINY, _Sampler(small), tmp_path).run(progress=False)


def test_config_guards():
    with pytest.raises(ValueError, match="Kodak"):
        VbrConfig(data=("kodak",))
    with pytest.raises(ValueError, match="validation folder"):
        VbrConfig(data=("a", "v"), validation="v")
    c = VbrConfig(stage_steps=(6000, 48000, 6000))
    scaled = c.scaled_to(6000)
    assert scaled.total == 6000 and scaled.stage_steps == (600, 4800, 600)
    assert VbrConfig.from_dict(c.to_dict()) == c


def test_shrink_factors_follow_the_rules():
    from pathlib import Path

    from hmxai.train.data import shrink_factors

    paths = [Path("/d/train-extra/osie/a.jpg"), Path("/d/imagenet-samples/b.JPEG"), Path("/d/coco/c.jpg")]
    sizes = [(600, 800), (375, 440), (480, 1000)]
    f = shrink_factors(paths, (("train-extra/osie", 0.5, 0.75),), 448, sizes, seed=0)
    assert 0.5 <= f[0] <= 0.75 and f[1] == 1.0 and f[2] == pytest.approx(0.448)
    assert f == shrink_factors(paths, (("train-extra/osie", 0.5, 0.75),), 448, sizes, seed=0)


@pytest.mark.slow
def test_cli_trains_resumes_and_exports_a_tiny_run(tmp_path, chelsea):
    """hmxai train vbr on a tiny config and a two-image folder (validation kept apart), then export:
    the shipped form loads as a variable-rate codec that round-trips at a fractional quality."""
    import json
    import subprocess
    import sys

    from hmxai.images import to_pil

    for folder, crops in (("train", (chelsea[..., :96, :128], chelsea[..., 100:196, 200:328])),
                          ("val", (chelsea[..., 150:214, 300:396],))):
        (tmp_path / "data" / folder).mkdir(parents=True)
        for i, c in enumerate(crops):
            to_pil(c).save(tmp_path / "data" / folder / f"{i}.png")
    cfg = dict(TINY.to_dict(), data=["train"], validation="val", val_images=1, val_qualities=[1.0, 3.0],
               val_every=3, stage_steps=[2, 2, 2])
    (tmp_path / "tiny.json").write_text(json.dumps(cfg))

    def cli(*args):
        proc = subprocess.run([sys.executable, "-m", "hmxai.cli", *map(str, args)], capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    out = cli("train", "vbr", tmp_path / "tiny.json", "--data", tmp_path / "data", "--out", tmp_path / "run", "--json")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["steps"] == 6 and summary["training_images"] == 2 and out["state"].endswith("state.pt")
    assert [v["step"] for v in summary["validation"]] == [3, 6]  # real bitstreams on the held-out image
    assert set(summary["validation"][0]["qualities"]) == {"1.0", "3.0"}
    again = cli("train", "vbr", tmp_path / "tiny.json", "--data", tmp_path / "data", "--out", tmp_path / "run", "--json")
    assert again["state"] == out["state"]  # finished: resuming trains nothing more
    written = cli("train", "export", tmp_path / "run", "--out", tmp_path / "zoo", "--json")["written"]
    assert [Path(p).name for p in written] == ["hmxai-vbr.safetensors", "hmxai-vbr-training.json"]
    from hmxai.codecs.vbr import VariableRateCodec
    from hmxai.codecs.vbr_model import VariableRateMSH
    from hmxai.train.vbr import load_vbr_weights

    model = VariableRateMSH.from_state_dict(load_vbr_weights(written[0]), TINY.lambdas)
    codec = VariableRateCodec(model, "hmxai-vbr", 2.5)
    x = chelsea[..., :64, :64]
    y_hat, _ = codec.decode_latent(load(dump(codec.compress(x))))
    assert torch.equal(y_hat, codec.analyze(x).y_hat)


def test_symbols_invert_the_offsets_exactly_even_when_they_are_large():
    """compress_latent recovers integer symbols of any y_hat on the grid, whatever the size of the learned
    offset (it grows with the scale): they decode to exactly y_hat, and are the original symbols wherever
    the offset keeps the sign (where it does not, two symbols can decode alike: either is a valid stream)."""
    from hmxai.codecs.vbr import dequantize, symbols_of

    codec = create_codec("hmxai-vbr", quality=6)
    g = torch.Generator().manual_seed(0)
    symbols = torch.randint(-40, 41, (1, 128, 4, 4), generator=g).float()
    scales = torch.exp(torch.empty(1, 128, 4, 4).uniform_(-3, 6, generator=g))  # 0.05 .. 400
    means = torch.randn(1, 128, 4, 4, generator=g)
    with torch.no_grad():
        y_hat = dequantize(codec.model, symbols, scales, means, codec.gain)
        back = symbols_of(codec.model, y_hat, scales, means, codec.gain)
        assert torch.equal(dequantize(codec.model, back, scales, means, codec.gain), y_hat)
        offsets = (y_hat - means) * codec.gain * torch.sign(symbols) - symbols.abs()
        kept = (symbols.abs() + offsets > 0) | (symbols == 0)
        assert torch.equal(back[kept], symbols[kept]) and kept.float().mean() > 0.9


def test_straight_through_rate_is_switched_off_even_when_a_step_fails(small, tmp_path):
    trainer = VbrTrainer(replace(TINY, stage_steps=(0, 0, 3)), _Sampler(small), tmp_path)

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    trainer.model.forward = broken
    with pytest.raises(RuntimeError, match="out of memory"):
        trainer.train_step()
    gc, eb = trainer.model.gaussian_conditional, trainer.model.entropy_bottleneck
    assert "quantize" not in gc.__dict__ and "quantize" not in eb.__dict__ and gc.training and eb.training


def test_a_bad_config_file_is_a_clear_error(tmp_path):
    from hmxai.errors import InvalidArgumentError

    (tmp_path / "a.json").write_text("{not json")
    (tmp_path / "b.json").write_text('{"lambdas": 3}')
    (tmp_path / "c.json").write_text('{"lr": 1, "nonsense": 2}')
    for name, match in (("a", "cannot be read as JSON"), ("b", "invalid config"), ("c", "unknown config keys")):
        with pytest.raises(InvalidArgumentError, match=match):
            VbrConfig.from_json(tmp_path / f"{name}.json")


def test_time_budget_scaling_shrinks_the_warm_up_too():
    c = VbrConfig(stage_steps=(6000, 48000, 6000), warmup=500)
    short = c.scaled_to(2000)
    assert short.total == 2000 and short.warmup == 17 and short.warmup < short.stage_steps[0]


def test_fractional_rungs_in_a_rate_ladder(small):
    ladder = hmxai_rate_ladder(small, {"hmxai-vbr": [2.5, 4]})
    assert ladder.qualities == (2.5, 4) and [r.quality for r in ladder.rungs] == [2.5, 4]
    assert ladder.measured_bpp[0] == create_codec("hmxai-vbr", quality=2.5).compress(small).measured_bpp


def hmxai_rate_ladder(*args, **kwargs):
    from hmxai.explain.ladder import rate_ladder

    return rate_ladder(*args, **kwargs)
