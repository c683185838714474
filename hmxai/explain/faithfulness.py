"""Faithfulness of channel orderings (deletion/insertion) and agreement of fast methods with exact ablation.

Deletion: starting from the transmitted latent, remove the live channels in the order of
the scores (most important first) and follow the machine's target probability (or the
human's PSNR); insertion: start from everything removed and add them back in the same
order. A seeded random order is measured alongside as the control.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from hmxai.errors import InvalidArgumentError
from hmxai.explain.common import eval_mode, spearman
from hmxai.explain.objective import (
    LatentObjective,
    ablation_values,
    live_channels,
    require_latent,
)
from hmxai.types import ChannelScores, DeletionInsertion, MethodAgreement, MethodAgreementRow

OBJECTIVES = ("machine", "human")


def _values(objective: LatentObjective, latents: torch.Tensor, kind: str) -> List[float]:
    from hmxai.metrics import psnr

    with torch.no_grad():
        x_hat = objective.decode(latents)
        if kind == "human":
            return psnr(x_hat, objective.x.expand_as(x_hat)).tolist()
        return objective.scores(x_hat)[:, 1].tolist()


def _curves(objective, latent, baseline, order, fractions, kind):
    live = len(order)
    dele, ins = [], []
    for f in fractions:
        k = round(f * live)
        chosen = torch.zeros(latent.y_hat.shape[1], dtype=torch.bool)
        chosen[order[:k]] = True
        dele.append(torch.where(chosen.view(1, -1, 1, 1), baseline, latent.y_hat))
        ins.append(torch.where(chosen.view(1, -1, 1, 1), latent.y_hat, baseline))
    return _values(objective, torch.cat(dele), kind), _values(objective, torch.cat(ins), kind)


def deletion_insertion(image, scores: ChannelScores, codec, task=None, *, objective: str = "machine",
                       points: int = 11, seed: int = 0) -> DeletionInsertion:
    """Deletion and insertion curves of the ordering given by ``scores`` (``machine`` or ``human``).

    ``codec`` and ``task`` must be the ones ``scores`` was computed with (checked by name).
    """
    from hmxai.images import load_image
    from hmxai.pipeline import resolve_models

    if objective not in OBJECTIVES:
        raise InvalidArgumentError(f"objective must be one of {OBJECTIVES}, not {objective!r}")
    codec, task = resolve_models(codec, scores.quality if isinstance(codec, str) else None, task or scores.task)
    require_latent(codec)
    if (codec.name, codec.quality, task.name) != (scores.codec, scores.quality, scores.task):
        raise InvalidArgumentError(f"scores were computed with {scores.codec} q{scores.quality} and {scores.task}, "
                         f"not {codec.name} q{codec.quality} and {task.name}")
    x = load_image(image)
    importance = scores.machine if objective == "machine" else scores.human
    live = scores.live.nonzero().flatten()
    order = live[torch.argsort(importance[live], descending=True, stable=True)]
    rand = live[torch.randperm(len(live), generator=torch.Generator().manual_seed(seed))]
    fractions = tuple(float(f) for f in np.linspace(0, 1, points))
    with eval_mode(codec.model, task):
        latent = codec.analyze(x)
        obj = LatentObjective(codec, task, x, latent, scores.target)
        baseline = ablation_values(codec, latent, scores.ablation)
        if latent.image_size != scores.image_size or not torch.equal(live_channels(latent.y_hat, baseline), scores.live):
            raise InvalidArgumentError("scores were computed on another image (size or live channels differ)")
        dele, ins = _curves(obj, latent, baseline, order, fractions, objective)
        rdele, rins = _curves(obj, latent, baseline, rand, fractions, objective)
    return DeletionInsertion(objective, scores.method, fractions, tuple(dele), tuple(ins), tuple(rdele), tuple(rins))


def method_agreement(images: Sequence, codec, task=None, *, quality: Optional[int] = None,
                     methods: Sequence[str] = ("input-x-gradient", "integrated-gradients"),
                     reference: str = "ablation", progress: bool = True,
                     params: Optional[Dict[str, dict]] = None) -> MethodAgreement:
    """Spearman correlation of each method's channel scores with ``reference``, per image.

    Correlations run over the reference's *live* channels: dead channels are exactly 0 under
    every method and would only add ties that inflate the agreement.

    Returns a :class:`~hmxai.types.MethodAgreement`: one row per method (rho per image for the
    machine and the human scores, their medians, seconds), and the reference's own times.
    """
    from tqdm.auto import tqdm

    from hmxai.explain.channels import channel_scores
    from hmxai.images import load_image
    from hmxai.pipeline import resolve_models

    codec, task = resolve_models(codec, quality, task)
    params = params or {}
    out: Dict[str, dict] = {m: {"machine": [], "human": [], "seconds": []} for m in methods}
    out[reference] = {"seconds": []}
    for image in tqdm(images, desc="method agreement", disable=not progress):
        x = load_image(image)
        ref = channel_scores(x, codec, task, method=reference, **params.get(reference, {}))
        out[reference]["seconds"].append(ref.seconds)
        for m in methods:
            s = channel_scores(x, codec, task, method=m, **params.get(m, {}))
            live = ref.live
            out[m]["machine"].append(spearman(ref.machine[live], s.machine[live]))
            out[m]["human"].append(spearman(ref.human[live], s.human[live]))
            out[m]["seconds"].append(s.seconds)
    def median(values):
        vals = [v for v in values if v == v]
        return float(np.median(vals)) if vals else float("nan")

    rows = tuple(MethodAgreementRow(m, tuple(out[m]["machine"]), tuple(out[m]["human"]), median(out[m]["machine"]),
                                    median(out[m]["human"]), tuple(out[m]["seconds"])) for m in methods)
    return MethodAgreement(reference, tuple(out[reference]["seconds"]), rows)
