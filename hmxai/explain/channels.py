"""Per-latent-channel scores: bits, machine importance and human importance of every channel.

>>> scores = channel_scores(x, "hmxai-vbr", quality=3, method="ablation")
>>> scores.bits, scores.machine, scores.human          # (M,) each

Methods (registry :data:`CHANNEL_METHODS`), each giving the machine's and the
human's scores from the same decoded passes:

* ``ablation`` (exact): captum ``FeatureAblation``, one feature group per channel,
  the objective returning all five scores at once, ``batch`` ablations per pass;
  channels equal to their ablation value everywhere are exactly 0 and skipped.
* ``shapley``: captum ``ShapleyValueSampling`` over channels (``samples`` permutations, seeded):
  each channel's average marginal effect over random orders of removal (all five scores).
* ``integrated-gradients``: Gauss-Legendre path integral from the all-ablated latent
  (captum's quadrature), path points decoded in batches, one backward per score.
* ``input-x-gradient``: gradient at the transmitted latent times (latent - ablation value),
  the first-order estimate of each channel's ablation effect: one decode, fast. The MSE is
  quadratic in the decoded image, so its second-order term ``mean((J delta_c)^2)`` is added
  (``quadratic=True``), estimated with ``projections`` seeded random projections through the
  decoder's Jacobian J; ``quadratic=False`` gives the pure first-order score.
"""

from __future__ import annotations

import time
from typing import Callable, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from hmxai.codecs import DEFAULT_LEARNED_CODEC
from hmxai.errors import InvalidArgumentError, InvalidTypeError
from hmxai.explain.objective import (
    OUTPUTS,
    LatentReaderObjective,
    ablation_values,
    live_channels,
    objective_for,
    given_latent,
    require_latent,
    with_channels,
)
from hmxai.modes import eval_mode
from hmxai.registry import Registry
from hmxai.types import ChannelScores, Effects

#: sign that turns "objective(full) - objective(ablated)" into the documented score
_SIGNS = torch.tensor([1.0, 1.0, 1.0, -1.0, 1.0], dtype=torch.float64)  # MSE: rise, others: drop
_GRAD_COLUMNS = tuple(OUTPUTS.index(n) for n in ("logit", "probability", "mse", "ms_ssim"))  # agreement: no gradient

CHANNEL_METHODS: Registry[Callable] = Registry("channel method")


class _Sub:
    """The objective seen as a function of the live channels only."""

    def __init__(self, objective, channels):
        self.objective, self.channels, self.full = objective, channels, objective.latent.y_hat

    def __call__(self, v):
        return self.objective(with_channels(self.full, self.channels, v))


def _ablation(objective, y_live, base_live, channels, *, batch: int = 4) -> tuple:
    from captum.attr import FeatureAblation

    fn = _Sub(objective, channels)
    mask = torch.arange(y_live.shape[1]).view(1, -1, 1, 1).expand_as(y_live).contiguous()
    with torch.no_grad():
        attr = FeatureAblation(fn).attribute(y_live, baselines=base_live, feature_mask=mask,
                                             perturbations_per_eval=batch)
    passes = 1 + y_live.shape[1]  # decoded images: captum's initial one and one per channel
    return attr[:, :, 0, 0].double(), passes, None, None  # (5, L): objective(full) - objective(ablated)


def _shapley(objective, y_live, base_live, channels, *, samples: int = 8, batch: int = 4, seed: int = 0) -> tuple:
    from captum.attr import ShapleyValueSampling

    fn = _Sub(objective, channels)
    mask = torch.arange(y_live.shape[1]).view(1, -1, 1, 1).expand_as(y_live).contiguous()
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        attr = ShapleyValueSampling(fn).attribute(y_live, baselines=base_live, feature_mask=mask,
                                                  n_samples=samples, perturbations_per_eval=batch)
    if attr.dim() == y_live.dim() + 1:  # (1, outputs, L, h, w): the input's batch dimension kept
        attr = attr[0]
    passes = 1 + samples * y_live.shape[1]
    return attr[:, :, 0, 0].double(), passes, None, None


def _column_grads(sub: "_Sub", y: Tensor) -> Tuple[Tensor, Tensor]:
    """Objective on ``y`` (n, L, h, w) and each differentiable column's gradient: (4, n, L, h, w).

    One decode; each column is differentiated in pixel space on its own branch (task or
    metric), then pulled back through the decoder.
    """
    y = y.detach().requires_grad_(True)
    x_hat = sub.objective.decode(with_channels(sub.full, sub.channels, y))
    pix = x_hat.detach().requires_grad_(True)
    terms = sub.objective.terms(pix)
    cotangents = []
    for i, col in enumerate(_GRAD_COLUMNS):
        (g,) = torch.autograd.grad(terms[col].sum(), pix, retain_graph=i < len(_GRAD_COLUMNS) - 1)
        cotangents.append(g)
    grads = torch.stack([torch.autograd.grad(x_hat, y, grad_outputs=g, retain_graph=i < len(cotangents) - 1)[0]
                         for i, g in enumerate(cotangents)])
    out = torch.stack(terms, dim=1)
    return out.detach(), grads


def _scatter_grads(grad_cols: Tensor) -> Tensor:
    out = torch.zeros((len(OUTPUTS),) + tuple(grad_cols.shape[1:]), dtype=grad_cols.dtype)
    out[list(_GRAD_COLUMNS)] = grad_cols
    return out


def _squared_change(sub: "_Sub", y_live: Tensor, delta: Tensor, projections: int, seed: int) -> Tensor:
    """(L,) estimate of ``mean((J delta_c)^2)``, the decoded image's squared change per channel.

    J is the decoder's Jacobian. For Gaussian r, E[(r . J d)^2] = |J d|^2, and r . J d_c is
    (J^T r) . d_c: each of ``projections`` random vectors costs one backward pass through the
    decoder and serves every channel at once (relative error about sqrt(2 / projections)).
    """
    y = y_live.detach().requires_grad_(True)
    x_hat = sub.objective.decode(with_channels(sub.full, sub.channels, y))
    g = torch.Generator().manual_seed(seed)
    total = torch.zeros(y_live.shape[1], dtype=torch.float64)
    for k in range(projections):
        r = torch.randn(x_hat.shape, generator=g, dtype=x_hat.dtype)
        (u,) = torch.autograd.grad(x_hat, y, grad_outputs=r, retain_graph=k < projections - 1)
        total += ((u * delta).sum(dim=(2, 3))[0].double()) ** 2
    return total / projections / x_hat[0].numel()


def _input_x_gradient(objective, y_live, base_live, channels, *, quadratic: bool = True, projections: int = 4,
                      seed: int = 0) -> tuple:
    sub = _Sub(objective, channels)
    out, grads = _column_grads(sub, y_live)
    delta = y_live - base_live
    effect = (grads[:, 0] * delta).sum(dim=(2, 3)).double()  # (4, L): first order
    if quadratic:  # the MSE is quadratic in the decoded image: add its second-order term
        effect[2] -= _squared_change(sub, y_live, delta, projections, seed)
    return _scatter_grads(effect), 1, None, out[0].double()


def _integrated_gradients(objective, y_live, base_live, channels, *, steps: int = 16, batch: int = 8) -> tuple:
    from captum.attr._utils.approximation_methods import approximation_parameters

    step_sizes, alphas = approximation_parameters("gausslegendre")
    sizes, points = step_sizes(steps), alphas(steps)
    sub = _Sub(objective, channels)
    delta = y_live - base_live
    total = torch.zeros((len(_GRAD_COLUMNS),) + tuple(y_live.shape[1:]), dtype=torch.float64)
    for start in range(0, steps, batch):
        a = torch.tensor(points[start : start + batch], dtype=y_live.dtype).view(-1, 1, 1, 1)
        w = torch.tensor(sizes[start : start + batch], dtype=torch.float64).view(1, -1, 1, 1, 1)
        _, grads = _column_grads(sub, base_live + a * delta)
        total += (grads.double() * w).sum(dim=1)
    effect = (total * delta.double()).sum(dim=(2, 3))  # (4, L)
    with torch.no_grad():
        ends = sub(torch.cat([y_live, base_live])).double()
    gap = float(effect[0].sum() - (ends[0, 0] - ends[1, 0]))  # completeness of the logit
    return _scatter_grads(effect), steps + 2, gap, ends[0]


def _decoder_ablation(objective, y_live, base_live, channels, *, batch: int = 16, task_size: int = 0) -> tuple:
    """Exact through the decoder, first order through the task: every channel is removed and its
    latent decoded (in batches), so the image each ablation gives is exact, and the human effects
    (MSE, MS-SSIM) are exact; the task's logit and probability change are ``grad . (x_c - x)`` from
    one backward pass at the transmitted image. ``task_size`` > 0: that gradient is taken with the
    task on images resized to ``task_size`` pixels a side (cheaper; 0: the task's own input)."""
    import torch.nn.functional as F

    from hmxai.metrics import ms_ssim

    full = objective.latent.y_hat
    with torch.no_grad():
        x0 = objective.decode(full)
    pix = x0.detach().requires_grad_(True)
    with torch.enable_grad():
        seen = pix if not task_size else F.interpolate(pix, size=(task_size, task_size), mode="bilinear",
                                                       align_corners=False, antialias=True)
        logits = objective.task(seen.contiguous(memory_format=torch.channels_last))
        logit = logits[0, objective.target]
        prob = F.softmax(logits.double(), dim=-1)[0, objective.target]
        (g_logit,) = torch.autograd.grad(logit, pix, retain_graph=True)
        (g_prob,) = torch.autograd.grad(prob, pix)
    with torch.no_grad():
        base_terms = objective.terms(x0, logits.detach())
        base = torch.stack(base_terms).double()[:, 0]
        effects = torch.zeros((len(OUTPUTS), y_live.shape[1]), dtype=torch.float64)
        ref = objective.x
        for start in range(0, y_live.shape[1], batch):
            idx = torch.arange(start, min(y_live.shape[1], start + batch))
            ys = full.expand(len(idx), *full.shape[1:]).clone()
            ys[torch.arange(len(idx)), channels[idx]] = base_live[0, idx]
            xs = objective.decode(ys)
            d = xs - x0
            effects[0, idx] = -(g_logit * d).flatten(1).sum(1).double()
            effects[1, idx] = -(g_prob.to(d.dtype) * d).flatten(1).sum(1).double()
            err = (xs - ref).pow(2).flatten(1).mean(1).double()
            sim = ms_ssim(xs, ref.expand_as(xs), dtype=torch.float32).double()
            effects[3, idx] = base[3] - err
            effects[4, idx] = base[4] - sim
    return effects, y_live.shape[1] + 1, None, base


def _refined(objective, y_live, base_live, channels, *, top: int = 32, batch: int = 4, quadratic: bool = True,
             projections: int = 4, seed: int = 0) -> tuple:
    """Input-x-gradient for every channel, then exact removal of the ``top`` channels it ranks
    highest for the machine (by |estimate|): their logit, probability, agreement and MSE effects
    are measured (decode + task, ``batch`` at a time) and replace the estimates; MS-SSIM keeps its
    estimate (measuring it would double the cost)."""
    effects, passes, _, base = _input_x_gradient(objective, y_live, base_live, channels, quadratic=quadratic,
                                                 projections=projections, seed=seed)
    k = min(int(top), y_live.shape[1])
    if k <= 0:
        return effects, passes, None, base
    pick = torch.argsort(effects[0].abs(), descending=True, stable=True)[:k]
    full = objective.latent.y_hat
    with torch.no_grad():
        for start in range(0, k, batch):
            idx = pick[start : start + batch]
            ys = full.expand(len(idx), *full.shape[1:]).clone()
            ys[torch.arange(len(idx)), channels[idx]] = base_live[0, idx]
            x_hat = objective.decode(ys)
            logits = objective.task(x_hat.contiguous(memory_format=torch.channels_last))
            logit = logits[:, objective.target].double()
            prob = torch.softmax(logits.double(), dim=-1)[:, objective.target]
            agree = (logits.argmax(-1) == objective.reference_class).double()
            err = (x_hat - objective.x).pow(2).flatten(1).mean(1).double()
            for row, value in ((0, logit), (1, prob), (2, agree), (3, err)):
                effects[row, idx] = base[row] - value  # objective(full) - objective(without the channel)
    return effects, passes + k, None, base


#: every method is ``fn(objective, y_live, base_live, channels, *, <its parameters>) -> tuple``;
#: its keyword-only parameters are what ``channel_scores(..., **params)`` accepts for it
CHANNEL_METHODS.register("ablation", _ablation, "exact: remove one channel at a time (captum FeatureAblation)",
                         exact=True, agreement=True)
CHANNEL_METHODS.register("shapley", _shapley, "Shapley value sampling over channels (captum)",
                         exact=False, agreement=True)
CHANNEL_METHODS.register("integrated-gradients", _integrated_gradients,
                         "path integral from the all-ablated latent (Gauss-Legendre)", exact=False,
                         agreement=False)
CHANNEL_METHODS.register("decoder-ablation", _decoder_ablation,
                         "each channel removed through the decoder (exact image, exact human effects), the task "
                         "to first order in pixels", exact=False, agreement=False)
CHANNEL_METHODS.register("refined", _refined,
                         "input-x-gradient for every channel, exact ablation for the top ones it ranks for the machine",
                         exact=False, agreement=False)
CHANNEL_METHODS.register("input-x-gradient", _input_x_gradient,
                         "first-order estimate of each ablation: gradient x (latent - ablation value)",
                         exact=False, agreement=False)


def method_parameters(method: str) -> tuple:
    """The parameters a channel method takes: the keyword-only ones of its function's signature."""
    import inspect

    fn = CHANNEL_METHODS.entry(method).factory
    return tuple(n for n, p in inspect.signature(fn).parameters.items() if p.kind is p.KEYWORD_ONLY)


def channel_scores(
    image,
    codec: Union[str, object] = DEFAULT_LEARNED_CODEC,
    task=None,
    *,
    quality: Optional[int] = None,
    method: str = "ablation",
    ablation: str = "not-transmitted",
    target: Optional[int] = None,
    skip_dead: bool = True,
    latent=None,
    channels: Optional[Sequence[int]] = None,
    **params,
) -> ChannelScores:
    """Bits, machine and human importance of every latent channel for one image.

    Args:
        image: path, PIL image, array or ``(1, 3, H, W)`` tensor in [0, 1].
        codec: a learned codec or its registry name (classical codecs are refused).
        task: task model or registry name (default EfficientNet-Lite0).
        method: a name in :data:`CHANNEL_METHODS`.
        ablation: ``not-transmitted`` (the entropy model's most probable value),
            ``zero`` or ``mean`` (the channel's spatial mean).
        target: class to explain (default: the task's top-1 on the original image).
        skip_dead: skip channels equal to their ablation value everywhere (their exact
            effect is 0); False evaluates them anyway (for timing comparisons).
        latent: the image's :class:`~hmxai.types.LatentResult` under ``codec`` (or its
            :class:`~hmxai.types.Rung`), when the caller already has it: it is used instead
            of analyzing the image again. ``seconds`` then counts the method alone.
        channels: score only these channels (the others get 0); for methods that score each
            channel on its own (``ablation``), :func:`merge_scores` of a partition of the channels
            equals one call on them all, so long runs can be cut into pieces (the explorer does).
        params: method parameters (``batch``, ``steps``, ``samples``, ``seed``).

    The models are put in eval mode for the computation and restored afterwards;
    no hooks are registered and no parameter gradient is accumulated.
    """
    from hmxai.images import load_image
    from hmxai.pipeline import resolve_models

    entry = CHANNEL_METHODS.entry(method)
    accepted = method_parameters(method)
    unknown = set(params) - set(accepted)
    if unknown:
        raise InvalidTypeError(f"method {method!r} takes no parameter(s) {sorted(unknown)} "
                               f"(it takes: {', '.join(accepted) or 'none'})")
    codec, task = resolve_models(codec, quality, task)
    require_latent(codec)
    if getattr(task, "reads", None) == "latent" and method not in LatentReaderObjective.METHODS:
        raise InvalidArgumentError(f"{task.name} reads the latent: its channel scores take the methods "
                                   f"{', '.join(LatentReaderObjective.METHODS)}, not {method!r}")
    x = load_image(image)  # one image: load_image refuses batches
    latent = given_latent(latent, codec, x)
    t0 = time.perf_counter()
    with eval_mode(codec.model, task), torch.enable_grad():
        if latent is None:
            latent = codec.analyze(x)
        objective = objective_for(codec, task, x, latent, target)
        baseline = ablation_values(codec, latent, ablation)
        live = live_channels(latent.y_hat, baseline)
        chosen = live if skip_dead else torch.ones_like(live)
        if channels is not None:
            subset = torch.zeros_like(chosen)
            index = torch.as_tensor(list(channels), dtype=torch.long)
            if index.numel() and (index.min() < 0 or index.max() >= chosen.numel()):
                raise InvalidArgumentError(f"channels must lie in 0..{chosen.numel() - 1}")
            subset[index] = True
            chosen = chosen & subset
        channels = chosen.nonzero().flatten()
        effects = torch.zeros((len(OUTPUTS), latent.y_hat.shape[1]), dtype=torch.float64)
        passes, gap, base = 0, None, None
        if channels.numel():
            eff, passes, gap, base = entry.factory(objective, latent.y_hat[:, channels], baseline[:, channels],
                                                   channels, **params)
            effects[:, channels] = eff
        if base is None:
            with torch.no_grad():
                base = objective(latent.y_hat)[0].double()
            passes += 1
    effects = effects * _SIGNS.view(-1, 1)
    seconds = time.perf_counter() - t0
    exact_agreement = entry.facts["agreement"]
    return ChannelScores(
        codec=codec.name, quality=codec.quality, task=task.name, method=method, ablation=ablation,
        target=objective.target, target_label=task.labels[objective.target],
        reference_class=objective.reference_class, image_size=latent.image_size,
        bits=latent.bits_per_channel[0].detach(), side_bits=float(latent.side_bits[0]),
        live=live,
        machine_logit=effects[0], machine_probability=effects[1],
        machine_agreement=effects[2] if exact_agreement else None,
        human_mse=effects[3], human_ms_ssim=effects[4],
        base=Effects(**{k: float(v) for k, v in zip(OUTPUTS, base)}),
        seconds=seconds, evaluations=passes, completeness_gap=gap,
    )


def merge_scores(parts: Sequence[ChannelScores]) -> ChannelScores:
    """One :class:`ChannelScores` from scores of disjoint channel subsets of the same image, codec,
    task, method and target (``channel_scores(..., channels=subset)``): effects added, passes and
    seconds summed."""
    from dataclasses import replace

    parts = list(parts)
    if not parts:
        raise InvalidArgumentError("merge_scores needs at least one part")
    first = parts[0]
    same = ("codec", "quality", "task", "method", "ablation", "target", "image_size")
    for p in parts[1:]:
        if any(getattr(p, k) != getattr(first, k) for k in same) or not torch.equal(p.bits, first.bits):
            raise InvalidArgumentError("merge_scores: the parts come from different images, codecs, tasks or methods")
    total = lambda name: None if getattr(first, name) is None else sum(getattr(p, name) for p in parts)  # noqa: E731
    return replace(first, machine_logit=total("machine_logit"), machine_probability=total("machine_probability"),
                   machine_agreement=total("machine_agreement"), human_mse=total("human_mse"),
                   human_ms_ssim=total("human_ms_ssim"), seconds=sum(p.seconds for p in parts),
                   evaluations=sum(p.evaluations for p in parts))


def channel_scores_batch(images, codec=DEFAULT_LEARNED_CODEC, task=None, *, quality: Optional[int] = None,
                         targets=None, progress: bool = True, **kwargs) -> list:
    """:func:`channel_scores` for each image of a sequence (or each row of a (B, 3, H, W) tensor)."""
    from tqdm.auto import tqdm

    from hmxai.pipeline import resolve_models

    codec, task = resolve_models(codec, quality, task)
    if isinstance(images, torch.Tensor) and images.dim() == 4:
        images = [images[i : i + 1] for i in range(images.shape[0])]
    images = list(images)
    if targets is not None and len(targets) != len(images):
        raise InvalidArgumentError("give one target per image")
    return [channel_scores(x, codec, task, target=None if targets is None else targets[i], **kwargs)
            for i, x in enumerate(tqdm(images, desc="channel scores", disable=not progress))]
