"""Pixel explanations across a rate ladder: one entry point, drift against the original, faithfulness.

>>> ladder = rate_ladder(x, {"hmxai-vbr": [1, 3.5, 6], "jpeg": [10, 50]})
>>> cam = explain_pixels(ladder, "grad-cam")
>>> lime = explain_pixels(ladder, "lime", seed=0, num_samples=1000)
>>> drift(ladder, lime)                     # per rung: rank correlation, top-10 % IoU, class changed
>>> pixel_faithfulness(ladder, cam)         # deletion/insertion AUCs per row, random control

:data:`PIXEL_METHODS` names every method; a new one registers a function
``(ladder, task, target=..., **params) -> PixelExplanation`` and is tested by the
contract tests. Task models only need ``forward`` (and ``target_layer`` for the CAMs),
so spiking task models plug in unchanged.
"""

from __future__ import annotations

from functools import partial
from typing import Callable, List, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from hmxai.errors import InvalidArgumentError, InvalidTypeError
from hmxai.explain.cam import CAM_METHODS, explain_cam, topk_mask
from hmxai.explain.common import resolve_target, spearman
from hmxai.explain.inference import inference_copy
from hmxai.explain.lime import explain_lime
from hmxai.registry import Registry
from hmxai.types.ladder import Drift, PixelExplanation, PixelFaithfulness, RateLadder

PIXEL_METHODS: Registry[Callable] = Registry("pixel explanation")
for _name in CAM_METHODS.names():
    PIXEL_METHODS.register(_name, partial(explain_cam, method=_name), CAM_METHODS.entry(_name).description)
PIXEL_METHODS.register("lime", explain_lime, "LIME: superpixel on/off samples, weighted ridge (shared masks)")

#: spellings accepted on the command line
ALIASES = {"gradcam": "grad-cam", "hirescam": "hires-cam"}


def explain_pixels(ladder: RateLadder, method: str = "grad-cam", task=None, **params) -> PixelExplanation:
    """Run pixel-explanation ``method`` on every row of ``ladder`` (see :data:`PIXEL_METHODS`)."""
    return PIXEL_METHODS.entry(ALIASES.get(method, method)).factory(ladder, task, **params)


def drift(ladder: RateLadder, explanation: PixelExplanation, top: float = 0.1) -> List[Drift]:
    """How each rung's explanation moved against the original's (row 0).

    Rank correlation of the raw signed maps (of the superpixel weights for LIME, whose pixels
    repeat them); IoU of the ``top`` fraction of highest values (superpixels for LIME); whether
    the rung's top-1 differs from the original's top-1.
    """
    if not 0 < top <= 1:
        raise InvalidArgumentError("top must be a fraction in (0, 1]")
    if explanation.maps.shape[0] != len(ladder):
        raise InvalidArgumentError("the explanation does not belong to this ladder (different number of rows)")
    values = explanation.weights if explanation.weights is not None else explanation.maps.flatten(1)
    ref_top = topk_mask(values[0], top)
    rows = []
    for r in range(1, len(ladder)):
        mask = topk_mask(values[r], top)
        rows.append(Drift(
            row=r, codec=ladder.codecs[r - 1], quality=ladder.qualities[r - 1],
            measured_bpp=ladder.measured_bpp[r - 1], psnr=ladder.psnr[r - 1], method=explanation.method,
            spearman=spearman(values[0], values[r]), top=top,
            top_iou=float((ref_top & mask).sum() / (ref_top | mask).sum()),
            class_changed=ladder.predictions[r].indices[0] != ladder.predictions[0].indices[0],
            target_probability=explanation.probabilities[r],
        ))
    return rows


BASELINES = ("blur", "grey", "mean")


def baseline_image(image: Tensor, kind: str = "blur") -> Tensor:
    """What removed pixels become: a strong Gaussian blur of the image (sigma = 5 % of its
    shorter side, edges replicated), mid grey, or the image's mean colour."""
    if kind == "grey":
        return torch.full_like(image, 0.5)
    if kind == "mean":
        return image.mean(dim=(-2, -1), keepdim=True).expand_as(image).clone()
    if kind != "blur":
        raise InvalidArgumentError(f"baseline must be one of {BASELINES}, not {kind!r}")
    sigma = max(1.0, 0.05 * min(image.shape[-2:]))
    radius = min(int(3 * sigma), min(image.shape[-2:]) - 1)
    t = torch.arange(-radius, radius + 1, dtype=image.dtype)
    g = torch.exp(-(t**2) / (2 * sigma**2))
    g = (g / g.sum()).view(1, 1, 1, -1).repeat(3, 1, 1, 1)
    out = F.conv2d(F.pad(image, (radius, radius, 0, 0), mode="replicate"), g, groups=3)
    return F.conv2d(F.pad(out, (0, 0, radius, radius), mode="replicate"), g.transpose(-1, -2), groups=3)


def _curve(fast, image, base, order, fractions, target, batch_size, insert):
    n = order.numel()
    out = []
    for i in range(0, len(fractions), batch_size):
        batch = []
        for f in fractions[i : i + batch_size]:
            chosen = torch.zeros(n, dtype=torch.bool)
            chosen[order[: round(f * n)]] = True
            chosen = chosen.view(1, 1, *image.shape[-2:])
            batch.append(torch.where(chosen, image, base) if insert else torch.where(chosen, base, image))
        x = torch.cat(batch).contiguous(memory_format=torch.channels_last)
        out.append(torch.softmax(fast(x).float(), dim=-1)[:, target])
    return torch.cat(out)


def pixel_faithfulness(ladder: RateLadder, explanation: PixelExplanation, task=None, *, points: int = 11,
                       baseline: str = "blur", seed: int = 0, batch_size: int = 11,
                       progress: bool = False) -> PixelFaithfulness:
    """Deletion and insertion curves of ``explanation`` on each row of ``ladder`` (target probability).

    Pixels are ordered by the row's map (highest first, ties by position); the control is a
    seeded random order of the same pixels. A faithful map has a low deletion AUC and a high
    insertion AUC, both better than the control.
    """
    from tqdm.auto import tqdm

    if points < 2:
        raise InvalidArgumentError("points must be >= 2")
    if explanation.maps.shape[0] != len(ladder):
        raise InvalidArgumentError("the explanation does not belong to this ladder (different number of rows)")
    task, target = resolve_target(ladder, task, explanation.target)
    fractions = [i / (points - 1) for i in range(points)]
    fast = inference_copy(task, probe=ladder.images[:1].float())
    generator = torch.Generator().manual_seed(seed)
    curves = {k: [] for k in ("deletion", "insertion", "random_deletion", "random_insertion")}
    with torch.inference_mode():
        for r in tqdm(range(len(ladder)), desc="deletion/insertion", disable=not progress, leave=False):
            image = ladder.images[r : r + 1].float()
            base = baseline_image(image, baseline)
            order = torch.argsort(explanation.maps[r].flatten(), descending=True, stable=True)
            rand = torch.randperm(order.numel(), generator=generator)
            args = (fast, image, base)
            curves["deletion"].append(_curve(*args, order, fractions, target, batch_size, insert=False))
            curves["insertion"].append(_curve(*args, order, fractions, target, batch_size, insert=True))
            curves["random_deletion"].append(_curve(*args, rand, fractions, target, batch_size, insert=False))
            curves["random_insertion"].append(_curve(*args, rand, fractions, target, batch_size, insert=True))
    return PixelFaithfulness(method=explanation.method, baseline=baseline, fractions=tuple(fractions),
                             **{k: torch.stack(v) for k, v in curves.items()})


def explain_ladder(ladder: RateLadder, methods: Sequence[str] = ("grad-cam", "lime"), task=None,
                   strict: bool = True, **params) -> List[PixelExplanation]:
    """Several methods on the same ladder; ``params`` go to the methods that take them (e.g. LIME's seed).
    A parameter no method takes is an error, unless ``strict=False`` (the CLI passes LIME's options
    whether or not LIME is among the methods)."""
    import inspect

    fns = [PIXEL_METHODS.entry(ALIASES.get(m, m)).factory for m in methods]
    accepted = [set(inspect.signature(fn.func if isinstance(fn, partial) else fn).parameters) for fn in fns]
    unknown = set(params) - set().union(*accepted)
    if unknown and strict:
        raise InvalidTypeError(f"no method among {list(methods)} takes {sorted(unknown)}")
    return [fn(ladder, task, **{k: v for k, v in params.items() if k in names}) for fn, names in zip(fns, accepted)]

