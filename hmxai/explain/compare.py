"""Two codecs on the same image at the same quality, explained for the same decision: which bits moved.

>>> cmp = compare_codecs(x, ("hmxai-vbr", "hmxai-hm"), quality=3)
>>> cmp.budget_shift, cmp.rate_change          # the bit budget's machine/human fractions, the rate
>>> fig = plot_codec_comparison(cmp)           # hmxai.plots.compare

Each side is built from its rung (:func:`hmxai.decode`: real bytes, decoded image, latent), its
channel scores (:func:`~hmxai.explain.channels.channel_scores`), bit budget, bit maps
(:func:`~hmxai.explain.spatial.where_bits_go`) and the Grad-CAM of the original's top-1 class on
its decoded image (:func:`~hmxai.explain.cam.cam_maps`); nothing is recomputed by hand here.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch

from hmxai.codecs import DEFAULT_LEARNED_CODEC
from hmxai.errors import InvalidArgumentError
from hmxai.types.compare import CodecComparison, CodecSide

#: the machine-aware codec trained by ``hmxai train joint`` (issue: humans and machines)
MACHINE_AWARE_CODEC = "hmxai-hm"


def compare_codecs(image, codecs: Sequence = (DEFAULT_LEARNED_CODEC, MACHINE_AWARE_CODEC), quality: float = 3,
                   task=None, *, method: str = "input-x-gradient", cam: str = "grad-cam",
                   target: Optional[int] = None) -> CodecComparison:
    """Compare two learned codecs on ``image`` at ``quality`` (see the module's docstring).

    Args:
        codecs: two registry names (or codec objects at ``quality``), the first the reference. The same
            quality knob need not give the same rate: ``rate_change`` says how far the two differ.
        task: the task model (default EfficientNet-Lite0); ``target``: the class explained
            (default the task's top-1 on the original).
        method: channel-attribution method (``input-x-gradient`` is one backward pass; ``ablation``
            is exact and ~M times slower).
    """
    from hmxai.codecs import create_codec
    from hmxai.explain.budget import bit_budget
    from hmxai.explain.cam import cam_maps
    from hmxai.explain.channels import channel_scores
    from hmxai.explain.objective import require_latent
    from hmxai.explain.spatial import where_bits_go
    from hmxai.images import load_image
    from hmxai.modes import eval_mode
    from hmxai.pipeline import decode, resolve_task

    if len(codecs) != 2:
        raise InvalidArgumentError(f"compare_codecs compares two codecs, got {len(codecs)}")
    task = resolve_task(task)
    x = load_image(image)
    if target is None:
        with eval_mode(task), torch.no_grad():
            target = int(task(x).argmax(-1))
    built = [create_codec(c, quality=quality) if isinstance(c, str) else c for c in codecs]
    for codec in built:  # fail before any work: classical codecs have no channels
        require_latent(codec)
    rungs = [decode(x, c, task, quality=quality) for c in built]  # a codec object at another quality is refused
    cams = cam_maps(task, torch.cat([r.x_hat.clamp(0, 1) for r in rungs]), target, cam)
    sides = []
    for codec, rung, m in zip(built, rungs, cams):
        scores = channel_scores(x, codec, task, method=method, target=target, latent=rung)
        maps = where_bits_go(x, codec, task, target=target, latent=rung)
        sides.append(CodecSide(rung=rung, scores=scores, budget=bit_budget(scores), maps=maps, cam=m))
    return CodecComparison(sides=tuple(sides), target=target, target_label=task.labels[target], method=method)
