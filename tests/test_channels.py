"""Channel explanations against a codec whose answers are known in closed form.

The analytic codec: a real CompressAI mean-scale hyperprior whose synthesis transform is
replaced by one linear transposed convolution (kernel = stride = 16, so each pixel depends
on exactly one latent element), and a linear classifier head. Removing channel c changes
the decoded image by exactly -G(delta_c) (delta_c: the channel's latent minus its ablation
value), so every channel's effect on the logit and on the MSE has a closed form.
"""

import pytest
import torch
from torch import nn

from hmxai.codecs.learned import LearnedCodec
from hmxai.errors import NoLatentError
from hmxai.explain.channels import CHANNEL_METHODS, channel_scores
from hmxai.explain.objective import ablation_values
from hmxai.tasks.base import wrap_task

M, SIDE, CLASSES = 6, 64, 4
EXACT = {"ablation", "input-x-gradient", "integrated-gradients", "shapley", "decoder-ablation", "refined"}


@pytest.fixture(scope="module")
def analytic():
    from compressai.models import MeanScaleHyperprior

    torch.manual_seed(0)
    model = MeanScaleHyperprior(N=8, M=M)
    g_s = nn.ConvTranspose2d(M, 3, kernel_size=16, stride=16)
    with torch.no_grad():
        g_s.weight.normal_(0, 2e-3)
        g_s.bias.fill_(0.5)
    model.g_s = g_s
    with torch.no_grad():  # a latent large enough to carry information; channel M-1 carries none
        last = model.g_a[-1]
        last.weight.mul_(40)
        last.bias.mul_(40)
        last.weight[M - 1] = 0
        last.bias[M - 1] = 0
    codec = LearnedCodec(model, "analytic", 1, weights="random-init")
    head = nn.Sequential(nn.Flatten(), nn.Linear(3 * SIDE * SIDE, CLASSES))
    with torch.no_grad():
        head[1].weight.normal_(0, 0.05)
    task = wrap_task(head, num_classes=CLASSES)
    x = torch.rand(1, 3, SIDE, SIDE, generator=torch.Generator().manual_seed(1))
    return codec, task, x, head[1]


@torch.no_grad()
def closed_form(codec, task, x, linear, ablation="not-transmitted"):
    """Per channel: the exact drop of the target logit and rise of the MSE when it is removed."""
    latent = codec.analyze(x)
    base = ablation_values(codec, latent, ablation)
    g_s = codec.model.g_s
    x_hat = latent.x_hat
    assert 0 < float(x_hat.min()) and float(x_hat.max()) < 1  # no clamping: the decoder is linear
    target = int(task(x).argmax(-1))
    err = x_hat - x
    logit, mse, change = [], [], []
    for c in range(M):
        delta = torch.zeros_like(latent.y_hat)
        delta[:, c] = latent.y_hat[:, c] - base[:, c]
        g = nn.functional.conv_transpose2d(delta, g_s.weight, stride=16)  # linear part only
        logit.append(float((linear.weight[target] * g.flatten()).sum()))
        mse.append(float(((err - g) ** 2).mean() - (err**2).mean()))
        change.append(float((g**2).mean()))
    return torch.tensor(logit, dtype=torch.float64), torch.tensor(mse, dtype=torch.float64), torch.tensor(change, dtype=torch.float64)


def test_methods_are_registered():
    assert set(CHANNEL_METHODS.names()) == EXACT


@pytest.mark.parametrize("ablation", ["not-transmitted", "zero", "mean"])
def test_ablation_is_exact(analytic, ablation):
    codec, task, x, linear = analytic
    s = channel_scores(x, codec, task, method="ablation", ablation=ablation)
    logit, mse, _ = closed_form(codec, task, x, linear, ablation)
    torch.testing.assert_close(s.machine_logit, logit, rtol=1e-3, atol=1e-5)
    torch.testing.assert_close(s.human_mse, mse, rtol=1e-3, atol=1e-8)
    assert s.machine_agreement is not None and s.evaluations == 2 + int(s.live.sum())  # + captum's and our base


@pytest.mark.parametrize("method,params", [("input-x-gradient", {}), ("integrated-gradients", {"steps": 8}),
                                           ("shapley", {"samples": 3}), ("decoder-ablation", {}),
                                           ("refined", {"top": 3})])
def test_linear_machine_score_is_exact_for_every_method(analytic, method, params):
    codec, task, x, linear = analytic
    s = channel_scores(x, codec, task, method=method, **params)
    logit, _, _ = closed_form(codec, task, x, linear)
    torch.testing.assert_close(s.machine_logit, logit, rtol=1e-3, atol=1e-5)


def test_decoder_ablation_is_exact_for_the_human_and_refined_for_its_top_channels(analytic):
    """decoder-ablation decodes every ablation: its MSE effects are exact; refined replaces the
    estimates of its top channels (ranked by the machine estimate) by exact effects, nothing else."""
    codec, task, x, linear = analytic
    _, mse, _ = closed_form(codec, task, x, linear)
    dec = channel_scores(x, codec, task, method="decoder-ablation")
    torch.testing.assert_close(dec.human_mse, mse, rtol=1e-3, atol=1e-8)
    fast = channel_scores(x, codec, task, method="input-x-gradient")
    ref = channel_scores(x, codec, task, method="refined", top=2)
    top = torch.argsort(fast.machine_logit.abs(), descending=True)[:2]
    rest = torch.ones_like(fast.live)
    rest[top] = False
    torch.testing.assert_close(ref.human_mse[top], mse[top], rtol=1e-3, atol=1e-8)
    assert torch.equal(ref.human_mse[rest], fast.human_mse[rest])
    assert torch.equal(ref.human_ms_ssim, fast.human_ms_ssim)  # kept as estimated


def test_scores_of_a_partition_of_the_channels_merge_into_one_call(analytic):
    from hmxai.explain.channels import merge_scores

    codec, task, x, _ = analytic
    whole = channel_scores(x, codec, task, method="ablation")
    m = whole.bits.numel()
    parts = [channel_scores(x, codec, task, method="ablation", channels=range(i, min(m, i + 3))) for i in range(0, m, 3)]
    assert torch.equal(parts[0].machine_logit[3:], torch.zeros(m - 3, dtype=torch.float64))  # only its channels
    merged = merge_scores(parts)
    for name in ("machine_logit", "machine_probability", "machine_agreement", "human_mse", "human_ms_ssim"):
        torch.testing.assert_close(getattr(merged, name), getattr(whole, name), rtol=1e-4, atol=1e-6)  # batching
    with pytest.raises(ValueError, match="different"):
        merge_scores([parts[0], channel_scores(x, codec, task, method="input-x-gradient")])
    with pytest.raises(ValueError, match="channels must lie"):
        channel_scores(x, codec, task, method="ablation", channels=[m])


def test_input_x_gradient_misses_exactly_the_quadratic_term(analytic):
    """First order in the MSE: exact rise = estimate + mean(G delta_c ^ 2); the projections estimate that term."""
    codec, task, x, linear = analytic
    first = channel_scores(x, codec, task, method="input-x-gradient", quadratic=False)
    _, mse, change = closed_form(codec, task, x, linear)
    torch.testing.assert_close(first.human_mse + change, mse, rtol=1e-3, atol=1e-3 * float(mse.abs().max()))
    full = channel_scores(x, codec, task, method="input-x-gradient", projections=64)
    estimated = full.human_mse - first.human_mse  # the second-order term alone
    live = full.live
    assert torch.all((estimated[live] - change[live]).abs() <= 0.6 * change[live])  # 64 projections: ~18 % error
    assert torch.equal(full.machine_logit, first.machine_logit)  # the machine score stays first order
    again = channel_scores(x, codec, task, method="input-x-gradient", projections=64)
    assert torch.equal(again.human_mse, full.human_mse)  # seeded


def test_integrated_gradients_completeness(analytic):
    codec, task, x, _ = analytic
    s = channel_scores(x, codec, task, method="integrated-gradients", steps=16)
    assert abs(s.completeness_gap) < 1e-4
    latent = codec.analyze(x)
    base = ablation_values(codec, latent)
    with torch.no_grad():
        none = codec.model.g_s(base).clamp(0, 1)
    mse_all_removed = float(((none - x) ** 2).mean())
    # human scores of all channels add up to the MSE rise of removing all of them (quadratic: exact)
    assert float(s.human_mse.sum()) == pytest.approx(mse_all_removed - s.base_value("mse"), rel=1e-3)


def test_dead_channels_are_exactly_zero_and_skipped(analytic):
    codec, task, x, _ = analytic
    s = channel_scores(x, codec, task, method="ablation")
    latent = codec.analyze(x)
    dead = (latent.y_hat == latent.means).flatten(2).all(-1)[0]
    assert bool(dead[M - 1]) and int(dead.sum()) < M
    assert torch.equal(~s.live, dead)
    assert torch.all(s.machine_logit[dead] == 0) and torch.all(s.human_mse[dead] == 0)


def _hooks(*modules):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
               for module in modules for m in module.modules())


@pytest.mark.parametrize("method", sorted(EXACT))
def test_modes_restored_no_hooks_and_deterministic(analytic, method):
    codec, task, x, _ = analytic
    params = {"integrated-gradients": {"steps": 4}, "shapley": {"samples": 2}}.get(method, {})
    task.train()
    codec.model.g_a.train()
    hooks = _hooks(task, codec.model)
    try:
        a = channel_scores(x, codec, task, method=method, **params)
        assert task.training and codec.model.g_a.training and not codec.model.g_s.training
        assert _hooks(task, codec.model) == hooks
        with pytest.raises(ValueError, match="target"):
            channel_scores(x, codec, task, method=method, target=CLASSES + 3, **params)
        assert task.training and codec.model.g_a.training
        assert _hooks(task, codec.model) == hooks
        b = channel_scores(x, codec, task, method=method, **params)
    finally:
        task.eval()
        codec.model.eval()
    for field in ("machine_logit", "machine_probability", "human_mse", "human_ms_ssim"):
        assert torch.equal(getattr(a, field), getattr(b, field)), field
    assert not any(p.grad is not None for p in task.parameters())


def test_classical_codecs_are_refused(small):
    from hmxai.explain.budget import budget_curves
    from hmxai.explain.spatial import where_bits_go

    for call in (lambda: channel_scores(small, "jpeg", "efficientnet-lite0"),
                 lambda: where_bits_go(small, "webp", "efficientnet-lite0"),
                 lambda: budget_curves([small], "jpeg", "efficientnet-lite0", progress=False)):
        with pytest.raises(NoLatentError, match="no latent"):
            call()


def test_unknown_method_and_parameters_are_clear(analytic):
    codec, task, x, _ = analytic
    with pytest.raises(Exception, match="did you mean ablation"):
        channel_scores(x, codec, task, method="ablaton")
    with pytest.raises(TypeError, match=r"takes no parameter\(s\) \['steps'\] \(it takes: batch\)"):
        channel_scores(x, codec, task, method="ablation", steps=3)
    with pytest.raises(ValueError, match="ablation must be"):
        channel_scores(x, codec, task, ablation="median")


def test_zoo_ablation_matches_stock_captum(small, lite0):
    """Our batched, two-objective, dead-channel-skipping ablation = stock captum, channel by channel."""
    from captum.attr import FeatureAblation

    from hmxai.codecs import create_codec

    codec = create_codec("hmxai-msh", quality=1)
    s = channel_scores(small, codec, lite0, method="ablation", batch=7)
    latent = codec.analyze(small)
    base = ablation_values(codec, latent)
    target = s.target

    def logit(y):
        x_hat = codec.model.g_s(y).clamp(0, 1)[..., : small.shape[-2], : small.shape[-1]]
        return lite0(x_hat)

    mask = torch.arange(latent.y_hat.shape[1]).view(1, -1, 1, 1).expand_as(latent.y_hat)
    with torch.no_grad():
        stock = FeatureAblation(logit).attribute(latent.y_hat, baselines=base, target=target, feature_mask=mask)
    torch.testing.assert_close(s.machine_logit, stock[0, :, 0, 0].double(), rtol=1e-4, atol=1e-4)
    assert 0 < int(s.live.sum()) <= s.num_channels
    assert float(s.bits.sum()) + s.side_bits == pytest.approx(float(latent.estimated_bits[0]))


def test_batch_and_psnr_drop(analytic):
    from hmxai.explain.channels import channel_scores_batch

    codec, task, x, _ = analytic
    xs = torch.cat([x, x.flip(-1)])
    many = channel_scores_batch(xs, codec, task, method="ablation", progress=False)
    one = channel_scores(xs[1:], codec, task, method="ablation")
    assert len(many) == 2 and torch.equal(many[1].machine_logit, one.machine_logit)
    base = one.base_value("mse")
    expected = 10 * torch.log10((base + one.human_mse) / base)
    torch.testing.assert_close(one.human_psnr, expected)
    assert torch.all((one.human_psnr > 0) == (one.human_mse > 0))


@pytest.mark.parametrize("arch,family", [("bmshj2018-factorized", "factorized"), ("bmshj2018-hyperprior", "scale"),
                                         ("mbt2018", "autoregressive")])
def test_every_family_has_its_not_transmitted_value(arch, family):
    """Random-init contract test: each family's ablation value and a full channel_scores call."""
    from hmxai.codecs import create_codec

    codec = create_codec(arch, quality=1)
    assert codec.family == family
    x = torch.rand(1, 3, 41, 73, generator=torch.Generator().manual_seed(2))  # odd size: padded to 64x128
    latent = codec.analyze(x)
    base = ablation_values(codec, latent)
    if family == "factorized":
        medians = codec.model.entropy_bottleneck._get_medians().reshape(1, -1, 1, 1)
        torch.testing.assert_close(base, medians.expand_as(base))
    elif family == "scale":
        assert torch.all(base == 0)
    else:
        assert torch.equal(base, latent.means)
    head = nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(48, CLASSES))
    task = wrap_task(head, num_classes=CLASSES)
    s = channel_scores(x, codec, task, method="input-x-gradient")
    assert s.bits.shape == (latent.y_hat.shape[1],) and s.image_size == (41, 73)
    assert torch.isfinite(s.machine_logit).all() and torch.isfinite(s.human_mse).all()


def test_every_column_of_ablation_by_direct_decoding(analytic):
    """Probability, agreement and MS-SSIM drops equal a direct decode of the ablated latent."""
    from hmxai.metrics import ms_ssim

    codec, task, x, _ = analytic
    s = channel_scores(x, codec, task, method="ablation")
    latent = codec.analyze(x)
    base = ablation_values(codec, latent)
    with torch.no_grad():
        def view(y):
            x_hat = codec.model.g_s(y).clamp(0, 1)[..., :SIDE, :SIDE]
            p = torch.softmax(task(x_hat).double(), -1)[0]
            return p[s.target], float(p.argmax() == s.reference_class), float(ms_ssim(x_hat, x, dtype=torch.float32))
        full = view(latent.y_hat)
        for c in range(M):
            y = latent.y_hat.clone()
            y[:, c] = base[:, c]
            ablated = view(y)
            assert float(s.machine_probability[c]) == pytest.approx(float(full[0] - ablated[0]), abs=1e-6)
            assert float(s.machine_agreement[c]) == full[1] - ablated[1]
            assert float(s.human_ms_ssim[c]) == pytest.approx(full[2] - ablated[2], abs=1e-5)


class _Exploding(nn.Module):
    """A head that raises on its n-th call: an error in the middle of a method."""

    def __init__(self, n):
        super().__init__()
        self.calls, self.n = 0, n
        self.linear = nn.Linear(3 * SIDE * SIDE, CLASSES)

    def forward(self, x):
        self.calls += 1
        if self.calls >= self.n:
            raise RuntimeError("boom")
        return self.linear(x.flatten(1))


@pytest.mark.parametrize("method", sorted(EXACT))
def test_error_in_the_middle_restores_modes(analytic, method):
    codec, _, x, _ = analytic
    task = wrap_task(_Exploding(2), num_classes=CLASSES)  # call 1: the original; 2: inside the method
    task.train()
    codec.model.g_a.train()
    try:
        with pytest.raises(RuntimeError, match="boom"):
            channel_scores(x, codec, task, method=method)
        assert task.training and task.net.training and codec.model.g_a.training and not codec.model.g_s.training
        assert _hooks(task, codec.model) == 0
    finally:
        codec.model.eval()


def test_every_channel_method_reports_unknown_parameters_from_its_signature(analytic):
    """One signature for every method: (objective, y_live, base_live, channels, *, params); the keyword-only
    parameters are exactly what channel_scores accepts for it."""
    import inspect

    from hmxai.explain.channels import CHANNEL_METHODS, method_parameters

    codec, task, x, _ = analytic
    expected = {"ablation": ("batch",), "shapley": ("samples", "batch", "seed"), "integrated-gradients": ("steps", "batch"),
                "input-x-gradient": ("quadratic", "projections", "seed"), "decoder-ablation": ("batch", "task_size"),
                "refined": ("top", "batch", "quadratic", "projections", "seed")}
    assert set(expected) == set(CHANNEL_METHODS.names())
    for name, params in expected.items():
        fn = CHANNEL_METHODS.entry(name).factory
        assert list(inspect.signature(fn).parameters)[:4] == ["objective", "y_live", "base_live", "channels"]
        assert method_parameters(name) == params
        with pytest.raises(TypeError, match=f"it takes: {', '.join(params)}"):
            channel_scores(x, codec, task, method=name, bogus=1)


def test_scores_from_a_rung_equal_a_fresh_analysis(small, lite0):
    """Given the rung (or its latent), channel_scores analyzes nothing again and gives the same scores;
    a rung of another quality is refused."""
    import hmxai
    from hmxai.codecs import create_codec

    codec = create_codec("hmxai-msh", quality=2)
    rung = hmxai.decode(small, codec)
    calls = []
    original = codec.analyze
    codec.analyze = lambda x: calls.append(1) or original(x)
    try:
        given = channel_scores(small, codec, lite0, method="input-x-gradient", latent=rung)
        assert not calls  # nothing analyzed again
        fresh = channel_scores(small, codec, lite0, method="input-x-gradient")
        assert calls == [1]
    finally:
        del codec.analyze
    assert torch.equal(given.machine, fresh.machine) and torch.equal(given.human, fresh.human)
    assert torch.equal(given.bits, fresh.bits)
    other = hmxai.decode(small, "hmxai-msh", quality=3)
    with pytest.raises(ValueError, match="rung is hmxai-msh q3"):
        channel_scores(small, codec, lite0, method="input-x-gradient", latent=other)


def test_explainers_refuse_a_batch_at_loading(analytic):
    """A (2, 3, H, W) tensor is refused by load_image, the first thing each explainer does."""
    from hmxai.errors import InvalidImageError
    from hmxai.explain.spatial import where_bits_go

    codec, task, x, _ = analytic
    xs = torch.cat([x, x])
    for explain in (channel_scores, where_bits_go):
        with pytest.raises(InvalidImageError, match="batch of 2 images"):
            explain(xs, codec, task)
