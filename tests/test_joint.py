"""Coding for humans and machines: the joint objective, its two variants, the comparison of two codecs."""

import json
from dataclasses import replace

import pytest
import torch
from torch import nn

from hmxai.errors import InvalidArgumentError
from hmxai.tasks.base import wrap_task
from hmxai.train.joint import JointTrainer, MachineTerm, build_joint_model, joint_loss, trainable
from hmxai.train.joint_config import JointConfig
from hmxai.train.vbr import VbrTrainer, rd_loss
from hmxai.train.vbr_config import VbrConfig

TINY = JointConfig(N=8, M=12, lambdas=(0.004, 0.016, 0.064), stage_steps=(0, 3, 1), batch=2, crop=64, warmup=1,
                   lr=3e-3, lr_stage3=3e-3, val_images=0, checkpoint_every=2, ema_decay=0.5, data=("x",),
                   downscale=(), init_from=None, val_task=False, lambda_m=1.0)


class _Sampler:
    def __init__(self, x, crop=64):
        self.x = x[..., :crop, :crop].repeat(2, 1, 1, 1).contiguous()

    def sample(self, batch, crop, generator):
        torch.rand((), generator=generator)
        return self.x


def tiny_teacher(seed=0):
    """A random conv net with batch norm (contract tests only: no claim rests on it)."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                        nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(8, 5))
    net[1].running_mean.uniform_(-0.1, 0.1)
    with torch.no_grad():
        net[-1].weight.mul_(40.0)  # logits that move with the image
    return wrap_task(net, num_classes=5, target_layer="3", name="tiny")


def _batch_loss(trainer, q=2.0):
    x = trainer.sampler.x
    gain = torch.tensor(trainer.model.scale.gain(q))
    torch.manual_seed(0)
    out = trainer.model(x, stage=2, inputscale=gain)
    return float(trainer.objective(out, x, trainer.model.scale.lmbda(q))["loss"].detach())


def _params(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_lambda_m_zero_is_the_human_objective(small, tmp_path):
    """λm = 0, λh = 1: the loss is rd_loss term for term, and a step moves the weights exactly as the
    human codec's own trainer does."""
    config = replace(TINY, lambda_m=0.0)
    joint = JointTrainer(config, _Sampler(small), tmp_path / "j", teacher=tiny_teacher())
    fields = {f: getattr(config, f) for f in VbrConfig.__dataclass_fields__}
    human = VbrTrainer(VbrConfig(**fields), _Sampler(small), tmp_path / "h")
    x = joint.sampler.x
    torch.manual_seed(1)
    out = joint.model(x, stage=2, inputscale=torch.tensor(0.5))
    a, b = joint.objective(out, x, 0.01), rd_loss(out, x, 0.01)
    assert torch.equal(a["loss"], b["loss"]) and float(a["machine"]) == 0.0
    for t in (joint, human):
        t.draw_quality = lambda s: 2.0
        t.train_step()
    sj, sh = joint.model.state_dict(), human.model.state_dict()
    assert sj.keys() == sh.keys() and all(torch.equal(sj[k], sh[k]) for k in sj)


def test_the_machine_term_is_the_teachers_kl_and_moves_no_statistics(small):
    teacher = tiny_teacher()
    before = _params(teacher.net)
    term = MachineTerm(teacher, temperature=2.0, feature_weight=0.5)
    x = small[..., :64, :64]
    same = term(x, x.clone())
    assert float(same["kl"]) == pytest.approx(0.0, abs=1e-6) and float(same["feature"]) == pytest.approx(0.0, abs=1e-9)
    x_hat = (1 - x).requires_grad_(True)
    terms = term(x, x_hat)
    with torch.no_grad():
        p, q = torch.softmax(teacher(x) / 2, -1), torch.log_softmax(teacher(x_hat) / 2, -1)
    expected = float((p * (p.log() - q)).sum(-1).mean() * 4)
    assert expected > 1e-4 and float(terms["kl"].detach()) == pytest.approx(expected, rel=1e-4)
    terms["machine"].backward()
    assert x_hat.grad is not None and x_hat.grad.abs().sum() > 0
    after = teacher.net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # batch-norm statistics untouched
    assert all(p.grad is None for p in teacher.net.parameters())
    assert not teacher.net[3]._forward_hooks  # the feature hook is removed


def test_full_variant_step_lowers_the_joint_loss(small, tmp_path):
    trainer = JointTrainer(TINY, _Sampler(small), tmp_path, teacher=tiny_teacher())
    assert len(trainable(trainer.model)) == len([p for p in trainer.model.parameters()]) - 1  # all but the Gain table
    before = _batch_loss(trainer)
    trainer.draw_quality = lambda s: 2.0
    stats = trainer.train_step()
    assert stats.machine > 0
    assert _batch_loss(trainer) < before


@pytest.fixture
def base_weights(tmp_path):
    """A tiny human codec exported as the adapter variant's starting point."""
    from hmxai.train.vbr import build_vbr_model
    from hmxai.train.vbr_run import save_vbr_weights

    torch.manual_seed(3)
    model = build_vbr_model(TINY)
    return save_vbr_weights(model, TINY, tmp_path / "base.safetensors", steps=0, fp16=False)


def test_adapter_variant_trains_only_the_adapter(small, tmp_path, base_weights):
    from hmxai.train.vbr import load_vbr_weights

    config = replace(TINY, variant="adapter", init_from=str(base_weights), adapter_hidden=6)
    trainer = JointTrainer(config, _Sampler(small), tmp_path / "run", teacher=tiny_teacher())
    assert trainer.aux_opt is None and all(n.startswith("g_a.7.") for n in trainable(trainer.model))
    base = load_vbr_weights(base_weights)
    before = _batch_loss(trainer)
    trainer.draw_quality = lambda s: 2.0
    for _ in range(2):
        trainer.train_step()
    after = trainer.model.state_dict()
    assert all(torch.equal(after[k], base[k]) for k in base)  # the human codec, bit for bit
    assert any(not torch.equal(after[k], torch.zeros_like(after[k])) for k in after if k.startswith("g_a.7.inner.2"))
    assert _batch_loss(trainer) < before


def test_an_untrained_adapter_is_the_human_codec(small, base_weights):
    from hmxai.codecs.vbr import VariableRateCodec
    from hmxai.codecs.vbr_model import VariableRateMSH
    from hmxai.train.vbr import load_vbr_weights

    state = load_vbr_weights(base_weights)
    plain = VariableRateMSH.from_state_dict(state, TINY.lambdas).eval()
    adapted = VariableRateMSH.from_state_dict(state, TINY.lambdas).add_adapter(4).eval()
    again = VariableRateMSH.from_state_dict(adapted.state_dict(), TINY.lambdas)
    assert again.adapter is not None and again.adapter.hidden == 4
    for q in (1.0, 2.5):
        a = VariableRateCodec(plain, "a", q).compress(small)
        b = VariableRateCodec(adapted, "a", q).compress(small)
        assert a.payload == b.payload


def test_joint_run_resumes_identically(small, tmp_path):
    def run(folder, stop=None):
        t = JointTrainer(TINY, _Sampler(small), folder, teacher=tiny_teacher())
        t.run(progress=False, stop_after=stop)
        return t

    straight = run(tmp_path / "a")
    run(tmp_path / "b", stop=3)
    steps = []
    resumed = JointTrainer(TINY, _Sampler(small), tmp_path / "b", teacher=tiny_teacher())
    resumed.run(progress=False, on_step=steps.append)
    assert [s.step for s in steps] == [4]  # it went on from the checkpoint, not from step 0
    assert resumed.step == straight.step == TINY.total
    sa, sb = straight.ema.state_dict(), resumed.ema.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert straight.history == resumed.history


@pytest.mark.parametrize("bad", [{"variant": "half"}, {"lambda_m": -1.0}, {"lambda_h": float("nan")},
                                 {"temperature": 0.0}, {"variant": "adapter", "init_from": None},
                                 {"fixed_quality": 2.0}])
def test_config_guards(bad):
    with pytest.raises(InvalidArgumentError):
        replace(TINY, **bad)


def test_a_foreign_starting_point_is_a_clear_error(small, tmp_path, base_weights):
    config = replace(TINY, N=10, variant="adapter", init_from=str(base_weights))
    with pytest.raises(InvalidArgumentError, match="not this run's codec"):
        JointTrainer(config, _Sampler(small), tmp_path, teacher=tiny_teacher())


def test_adapter_run_resumes_and_refuses_another_config(small, tmp_path, base_weights):
    from hmxai.train.joint import train_joint  # noqa: F401  (the runner's guard is the trainer's resume)

    config = replace(TINY, variant="adapter", init_from=str(base_weights), adapter_hidden=6)
    JointTrainer(config, _Sampler(small), tmp_path, teacher=tiny_teacher()).run(progress=False, stop_after=2)
    again = JointTrainer(config, _Sampler(small), tmp_path, teacher=tiny_teacher())
    assert again.resume() and again.step == 2 and again.aux_opt is None
    with pytest.raises(InvalidArgumentError, match="another config"):
        JointTrainer(replace(config, lambda_m=0.5), _Sampler(small), tmp_path, teacher=tiny_teacher()).resume()


def test_a_machine_term_without_a_teacher_is_an_error(small, tmp_path):
    trainer = JointTrainer(TINY, _Sampler(small), tmp_path, teacher=tiny_teacher())
    trainer.machine = None
    with pytest.raises(InvalidArgumentError, match="needs the machine term"):
        trainer.train_step()
    with pytest.raises(InvalidArgumentError, match="target layer"):
        MachineTerm(wrap_task(nn.Flatten(), num_classes=3), feature_weight=1.0)


def test_build_joint_model_freezes_the_codec_for_the_adapter_variant():
    model = build_joint_model(replace(TINY, variant="adapter", init_from="x", adapter_hidden=5))
    assert model.adapter is not None and model.adapter.hidden == 5
    assert all(p.requires_grad == n.startswith("g_a.7.") for n, p in model.named_parameters())


# ---------------------------------------------------------------------------------------- comparison
def test_compare_codecs_is_built_from_the_two_rungs(small):
    from hmxai.explain.compare import compare_codecs
    from hmxai.plots.compare import plot_codec_comparison

    cmp = compare_codecs(small, ("hmxai-vbr", "hmxai-msh"), quality=2)
    a, b = cmp.sides
    assert (a.rung.codec, b.rung.codec) == ("hmxai-vbr", "hmxai-msh")
    assert len(a.rung.encoded.payload) > 0 and a.scores.target == b.scores.target == cmp.target
    assert torch.equal(cmp.bits_difference, b.maps.bits_y - a.maps.bits_y)
    assert sum(cmp.budget_shift.values()) == pytest.approx(0.0, abs=1e-9)
    assert cmp.rate_change == pytest.approx(b.rung.metrics.measured_bpp / a.rung.metrics.measured_bpp - 1)
    assert float(a.scores.bits.sum()) == pytest.approx(float(a.maps.bits_y.sum()), rel=1e-4)
    d = json.loads(json.dumps(cmp.to_dict()))
    assert len(d["sides"][0]["channels"]["bits"]) == 128 and len(d["sides"][1]["channels"]["bits"]) == 96
    fig = plot_codec_comparison(cmp)
    assert len(fig.axes) >= 9
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_compare_codecs_refuses_a_classical_codec(small):
    from hmxai.errors import NoLatentError
    from hmxai.explain.compare import compare_codecs

    with pytest.raises(NoLatentError):
        compare_codecs(small, ("hmxai-vbr", "jpeg"), quality=2)
    with pytest.raises(InvalidArgumentError):
        compare_codecs(small, ("hmxai-vbr",), quality=2)


# ---------------------------------------------------------------------------------------- shipped weights
def test_shipped_machine_aware_codec_reproduces_its_card_on_a_subset(data_root):
    """hmxai-hm loads offline from the package and reproduces the paper sweep's stored rows (what its card
    is computed from) on 2 Kodak and 3 held-out ImageNet images at the range's two ends. Tolerance: bytes
    exact, PSNR 0.01 dB, at most one of the 6 top-1 answers may differ (a near-tie can flip between CPUs)."""
    from pathlib import Path

    import hmxai
    from hmxai.codecs.zoo import zoo_card, zoo_weights_path
    from hmxai.sweep.results import load_results
    from hmxai.train.data import imagenet_split

    assert zoo_weights_path("hmxai-hm").stat().st_size < 8e6
    card = zoo_card("hmxai-hm")
    rows = load_results(Path(__file__).resolve().parents[1] / card["measured"]["sweep"]).ok
    rows = rows[rows["codec"] == "hmxai-hm"]
    task = hmxai.create_task("efficientnet-lite0")
    _, held = imagenet_split(Path(data_root) / "imagenet-samples")
    cases = [("kodak", Path(data_root) / "kodak" / n) for n in ("kodim01.png", "kodim23.png")]
    cases += [("imagenet-heldout", p) for p in held[:3]]
    flips = 0
    for q in (1.0, 6.0):
        codec = hmxai.create_codec("hmxai-hm", quality=q)
        for dataset, path in cases:
            want = rows[(rows["dataset"] == dataset) & (rows["image"] == path.name) & (rows["quality"] == q)].iloc[0]
            assert want["codec_weights_id"] == codec.weights_id
            rung = hmxai.decode(path, codec, task if dataset != "kodak" else None)
            assert len(rung.encoded.payload) == want["payload_bytes"]
            assert rung.metrics.psnr == pytest.approx(want["psnr"], abs=0.01)
            if dataset != "kodak":
                flips += rung.prediction.indices[0] != int(want["top1"])
    assert flips <= 1


def test_cli_compare_codecs_json_and_figure(tmp_path, small, capsys):
    from hmxai.cli import main
    from hmxai.images import to_pil

    path = tmp_path / "crop.png"
    to_pil(small).save(path)
    assert main(["compare-codecs", str(path), "--quality", "2.5", "--figure", str(tmp_path / "c.png"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [s["codec"] for s in out["sides"]] == ["hmxai-vbr", "hmxai-hm"]  # the defaults
    assert all(s["quality"] == 2.5 for s in out["sides"]) and (tmp_path / "c.png").stat().st_size > 0
    assert set(out["budget_shift"]) == {"both", "machine", "human", "neither"}
    assert main(["compare-codecs", str(path), "--codecs", "hmxai-vbr", "webp", "--json"]) == 2  # no latent
    assert "no latent channels" in json.loads(capsys.readouterr().out)["error"]
