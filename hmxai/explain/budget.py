"""The bit budget (whom each channel's bits serve) and channel-budget curves (scalable transmission).

Bit-budget rule (:func:`bit_budget`): with negative importances counted as 0, the
*machine-relevant* channels are the fewest channels, in decreasing machine importance,
whose importance adds up to ``machine_coverage`` (default 80 %) of the total; likewise
for the human. A channel is then ``both``, ``machine`` (only), ``human`` (only) or
``neither``, and the image's latent bits are summed per class.

Channel-budget curves (:func:`budget_curves`): transmit only the top-k channels of an
ordering, replace the rest by their "not transmitted" value, decode, and measure the rate
(estimated: bits of the sent channels + side bits; the rate of that subset for the factorized,
scale and mean-scale families, whose entropy parameters do not depend on y; an approximation
for autoregressive models, whose context would change) against the machine's and the human's quality.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from hmxai.codecs import DEFAULT_LEARNED_CODEC
from hmxai.errors import InvalidArgumentError
from hmxai.explain.objective import OUTPUTS
from hmxai.registry import Registry
from hmxai.types import (
    BUDGET_CLASSES,
    BitBudget,
    BudgetCurve,
    BudgetCurves,
    BudgetShares,
    ChannelScores,
    MachineHumanSplit,
    OrderingBD,
)

ORDERINGS = ("machine", "machine-per-bit", "human", "human-per-bit", "bits", "random")


def _relevant(importance: Tensor, coverage: float) -> Tensor:
    """(M,) bool: the fewest top channels holding ``coverage`` of the positive importance."""
    if not 0.0 < coverage <= 1.0:
        raise InvalidArgumentError(f"coverage must be in (0, 1], got {coverage}")
    pos = importance.double().clamp(min=0)
    total = float(pos.sum())
    out = torch.zeros(pos.shape, dtype=torch.bool)
    if total <= 0:
        return out
    order = torch.argsort(pos, descending=True, stable=True)
    cum = torch.cumsum(pos[order], 0)
    n = int((cum < coverage * total * (1 - 1e-12)).sum()) + 1
    out[order[:n]] = True
    return out


def bit_budget(scores: ChannelScores, machine_coverage: float = 0.8, human_coverage: float = 0.8) -> BitBudget:
    """Split the image's latent bits by whom each channel mainly serves (rule: module docstring)."""
    m = _relevant(scores.machine, machine_coverage)
    h = _relevant(scores.human, human_coverage)
    classes = tuple("both" if a and b else "machine" if a else "human" if b else "neither"
                    for a, b in zip(m.tolist(), h.tolist()))
    bits = {k: 0.0 for k in BUDGET_CLASSES}
    for c, b in zip(classes, scores.bits.tolist()):
        bits[c] += b
    return BitBudget(classes, BudgetShares(**bits), scores.side_bits, machine_coverage, human_coverage)


def _by_key(key_of: Callable[[ChannelScores], Tensor]) -> Callable[[ChannelScores, int], Tensor]:
    def order(scores: ChannelScores, seed: int = 0) -> Tensor:
        key = key_of(scores)
        key = torch.where(scores.live, key, torch.full_like(key, -float("inf")))  # dead channels last
        return torch.argsort(key, descending=True, stable=True)

    return order


def _random_order(scores: ChannelScores, seed: int = 0) -> Tensor:
    live = scores.live.nonzero().flatten()
    dead = (~scores.live).nonzero().flatten()
    perm = torch.randperm(len(live), generator=torch.Generator().manual_seed(seed))
    return torch.cat([live[perm], dead])


def _bits(scores: ChannelScores) -> Tensor:
    return scores.bits.double().clamp(min=1e-9)


#: channel orderings: name -> ``order(scores, seed) -> (M,) channel indices, first sent first``
CHANNEL_ORDERINGS: Registry[Callable] = Registry("channel ordering")
CHANNEL_ORDERINGS.register("machine", _by_key(lambda s: s.machine.double()), "machine importance, highest first")
CHANNEL_ORDERINGS.register("machine-per-bit", _by_key(lambda s: s.machine.double() / _bits(s)),
                           "machine importance per estimated bit")
CHANNEL_ORDERINGS.register("human", _by_key(lambda s: s.human.double()), "human importance, highest first")
CHANNEL_ORDERINGS.register("human-per-bit", _by_key(lambda s: s.human.double() / _bits(s)),
                           "human importance per estimated bit")
CHANNEL_ORDERINGS.register("bits", _by_key(lambda s: s.bits.double()), "costliest channel first")
CHANNEL_ORDERINGS.register("random", _random_order, "seeded random order of the live channels")
assert set(ORDERINGS) == set(CHANNEL_ORDERINGS.names())  # ORDERINGS: the registry's names in display order


def channel_order(scores: ChannelScores, ordering: str, seed: int = 0) -> Tensor:
    """(M,) channel indices, first sent first, under ``ordering`` (see :data:`CHANNEL_ORDERINGS`).

    ``machine``/``human``: importance; ``*-per-bit``: importance divided by the channel's
    bits; ``bits``: costliest first; ``random``: seeded. Dead channels go last.
    """
    if ordering not in CHANNEL_ORDERINGS:
        raise InvalidArgumentError(f"ordering must be one of {', '.join(ORDERINGS)}, not {ordering!r}")
    return CHANNEL_ORDERINGS.entry(ordering).factory(scores, seed)


def default_ks(num_channels: int, points: int = 9) -> List[int]:
    """Channel counts from 0 to all, ``points`` of them, denser at the start (quadratic spacing)."""
    if points < 2:
        raise InvalidArgumentError("points must be at least 2 (none and all channels)")
    ks = sorted({round(num_channels * (i / (points - 1)) ** 2) for i in range(points)})
    return ks


def _curve_points(objective, latent, baseline: Tensor, order: Tensor, ks: Sequence[int],
                  bits: Tensor, side_bits: float, label: Optional[int]) -> Dict[str, List[float]]:
    from hmxai.metrics import psnr

    rows = []
    for k in ks:
        keep = torch.zeros(latent.y_hat.shape[1], dtype=torch.bool)
        keep[order[:k]] = True
        rows.append(torch.where(keep.view(1, -1, 1, 1), latent.y_hat, baseline))
    with torch.no_grad():
        x_hat = objective.decode(torch.cat(rows))
        logits = objective.task(x_hat)
        s = objective.scores(x_hat, logits)
    out = {
        "estimated_bpp": [(float(bits[order[:k]].sum()) + side_bits) / latent.num_pixels for k in ks],
        "psnr": psnr(x_hat, objective.x.expand_as(x_hat)).tolist(),
        "ms_ssim": s[:, OUTPUTS.index("ms_ssim")].tolist(),
        "agreement": s[:, OUTPUTS.index("agreement")].tolist(),
        "probability": s[:, OUTPUTS.index("probability")].tolist(),
    }
    if label is not None:
        out["accuracy"] = (logits.argmax(-1) == label).double().tolist()
    return out


def budget_curves(
    images: Sequence,
    codec=DEFAULT_LEARNED_CODEC,
    task=None,
    *,
    quality: Optional[int] = None,
    labels: Optional[Sequence[int]] = None,
    orderings: Sequence[str] = ORDERINGS,
    method: str = "input-x-gradient",
    points: int = 9,
    anchor: str = "random",
    seed: int = 0,
    progress: bool = True,
) -> BudgetCurves:
    """Rate vs task agreement/accuracy and rate vs PSNR per channel ordering, averaged over images.

    Orderings are computed per image from that image's channel scores (``method``). The
    BD numbers compare each ordering with ``anchor`` (pchip on the averaged curves).
    """
    from tqdm.auto import tqdm

    from hmxai.explain.channels import channel_scores
    from hmxai.explain.objective import LatentObjective, ablation_values, require_latent
    from hmxai.modes import eval_mode
    from hmxai.images import load_image
    from hmxai.pipeline import resolve_models

    codec, task = resolve_models(codec, quality, task)
    require_latent(codec)
    if anchor not in orderings:
        raise InvalidArgumentError(f"anchor {anchor!r} is not among the orderings {list(orderings)}")
    if labels is not None and len(labels) != len(images):
        raise InvalidArgumentError("give one label per image")
    acc: Dict[str, Dict[str, List[List[float]]]] = {o: {} for o in orderings}
    ks: Optional[List[int]] = None
    for i, image in enumerate(tqdm(images, desc="budget curves", disable=not progress)):
        x = load_image(image)
        with eval_mode(codec.model, task):
            latent = codec.analyze(x)  # once: the scores and the curves share it
        scores = channel_scores(x, codec, task, method=method, latent=latent)
        with eval_mode(codec.model, task):
            objective = LatentObjective(codec, task, x, latent, scores.target)
            baseline = ablation_values(codec, latent)
            ks = ks or default_ks(scores.num_channels, points)
            for o in orderings:
                pts = _curve_points(objective, latent, baseline, channel_order(scores, o, seed + i), ks,
                                    scores.bits, scores.side_bits, None if labels is None else labels[i])
                for key, values in pts.items():
                    acc[o].setdefault(key, []).append(values)
    curves = []
    for o in orderings:
        mean = {key: tuple(float(v) for v in np.mean(np.asarray(rows), axis=0)) for key, rows in acc[o].items()}
        curves.append(BudgetCurve(o, tuple(ks), mean["estimated_bpp"], mean["psnr"], mean["ms_ssim"], mean["agreement"],
                                  mean["probability"], mean.get("accuracy")))
    bd = tuple(_bd_against(next(a for a in curves if a.ordering == anchor), c) for c in curves)
    return BudgetCurves(tuple(curves), len(images), codec.name, codec.quality, task.name, method, anchor, bd)


def _bd_against(anchor: BudgetCurve, test: BudgetCurve):
    from hmxai.bd import bd_metric, bd_rate

    def safe(fn, *args):
        try:
            return fn(*args, method="pchip")
        except ValueError:
            return None

    # k = 0 sends only side bits (0 for a factorized prior): keep positive, strictly increasing rates
    def pts(c, q):
        r = np.asarray(c.estimated_bpp)
        keep = (r > 0) & np.concatenate([[True], np.diff(r) > 0])
        return r[keep], np.asarray(q)[keep]

    ra, pa = pts(anchor, anchor.psnr)
    rt, pt = pts(test, test.psnr)
    _, aa = pts(anchor, anchor.agreement)
    _, at = pts(test, test.agreement)
    return OrderingBD(test.ordering, safe(bd_metric, ra, pa, rt, pt), safe(bd_metric, ra, aa, rt, at),
                      safe(bd_rate, ra, pa, rt, pt))


def machine_human_split(scores: ChannelScores, fraction: float = 0.2) -> MachineHumanSplit:
    """How different the machine's and the human's channels are, over the live channels.

    ``spearman``: rank correlation of machine and human importance; ``top_overlap``: the
    share of the top ``fraction`` machine channels that are also among the top ``fraction``
    human channels (1.0: the same channels; about ``fraction``: unrelated).
    """
    from hmxai.explain.common import spearman

    live = scores.live.nonzero().flatten()
    if len(live) == 0:
        return MachineHumanSplit(float("nan"), float("nan"), 0, 0)
    n = max(1, round(fraction * len(live)))
    top_m = set(live[torch.argsort(scores.machine[live], descending=True, stable=True)[:n]].tolist())
    top_h = set(live[torch.argsort(scores.human[live], descending=True, stable=True)[:n]].tolist())
    return MachineHumanSplit(spearman(scores.machine[live], scores.human[live]), len(top_m & top_h) / n,
                             int(len(live)), n)
