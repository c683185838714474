"""A rate ladder: one image compressed at several (codec, quality) rungs, decoded from real bytes.

>>> ladder = rate_ladder(x, "jpeg", [10, 30, 70])                     # one codec, three rates
>>> ladder = rate_ladder(x, {"hmxai-vbr": [1, 3.5, 6], "jpeg": [10, 50]})  # codecs side by side

Compressing is done once per rung; every pixel explanation (Grad-CAM, LIME, ...) and the
figure then read the same decoded images, so their rows line up exactly.
"""

from __future__ import annotations

from dataclasses import replace
from typing import List, Mapping, Optional, Sequence, Tuple, Union

import torch

from hmxai.errors import InvalidArgumentError
from hmxai.types.ladder import RateLadder

from hmxai.ladders import DEFAULT_QUALITIES  # noqa: E402  (one table, in hmxai.ladders)

CodecSpec = Union[str, object, Mapping[str, Optional[Sequence[int]]]]


def default_qualities(codec: str) -> Tuple[int, ...]:
    """The rungs of ``codec`` when none are given: its table entry, else its whole (or 5-point) range."""
    from hmxai.codecs import CODECS

    if codec in DEFAULT_QUALITIES:
        return DEFAULT_QUALITIES[codec]
    lo, hi = CODECS.entry(codec).facts["quality_range"]
    if hi - lo < 8:
        return tuple(range(lo, hi + 1))
    return tuple(sorted({round(lo + (hi - lo) * i / 4) for i in range(5)}))


def _rungs(codec: CodecSpec, qualities: Optional[Sequence[int]]) -> List[Tuple[object, int]]:
    from hmxai.codecs import create_codec
    from hmxai.codecs.base import Codec
    from hmxai.registry import quality_value

    if isinstance(codec, Codec):
        if qualities is not None and list(qualities) != [codec.quality]:
            raise InvalidArgumentError("a codec object has one quality: give a codec name to sweep qualities")
        return [(codec, codec.quality)]
    if isinstance(codec, str):
        codec = {codec: qualities}
    elif qualities is not None:
        raise InvalidArgumentError("give qualities inside the mapping {codec: [qualities]}")
    rungs = []
    for name, qs in codec.items():
        for q in (default_qualities(name) if qs is None else qs):
            q = quality_value(q)  # an int, or a fraction for a variable-rate codec
            rungs.append((create_codec(name, quality=q), q))
    if not rungs:
        raise InvalidArgumentError("the ladder has no rung: give at least one quality")
    return rungs


def rate_ladder(image, codec: CodecSpec = None, qualities: Optional[Sequence[int]] = None, task=None, *,
                progress: bool = False) -> RateLadder:
    """Compress ``image`` at every rung (real bytes), decode, and predict on each row.

    Args:
        image: anything :func:`hmxai.images.load_image` reads; one image, ``(1, 3, H, W)`` after loading.
        codec: a codec name (default: the zoo's), a codec object, or ``{name: qualities or None}``.
        qualities: the rungs of a single named codec (default :func:`default_qualities`).
        task: a task model or name (default EfficientNet-Lite0).
    """
    from hmxai.modes import eval_mode
    from hmxai.pipeline import resolve_task

    task = resolve_task(task)
    x, rungs = decode_rungs(image, codec, qualities, progress=progress)
    with eval_mode(task):
        predictions = tuple(task.predict(torch.cat([x] + [r.x_hat for r in rungs]), k=5))  # one batch
    return ladder_of(x, rungs, predictions, task.name)


def decode_rungs(image, codec: CodecSpec = None, qualities: Optional[Sequence[int]] = None, *,
                 progress: bool = False):
    """``(x, rungs)``: the loaded image and its rungs from :func:`hmxai.decode` (no predictions yet;
    ``x_hat`` clamped to [0, 1])."""
    from tqdm.auto import tqdm

    from hmxai.codecs import DEFAULT_LEARNED_CODEC
    from hmxai.images import load_image
    from hmxai.pipeline import decode

    x = load_image(image)  # one image: (1, 3, H, W); batches are refused there
    rungs = [decode(x, c) for c, _ in tqdm(_rungs(DEFAULT_LEARNED_CODEC if codec is None else codec, qualities),
                                           desc="ladder", disable=not progress, leave=False)]
    return x, tuple(replace(r, x_hat=r.x_hat.clamp(0, 1)) for r in rungs)


def ladder_of(x, rungs, predictions, task_name: str) -> RateLadder:
    """The :class:`RateLadder` of ``x`` and its ``rungs``, with ``predictions`` (1 + R: the
    original's first) attached to the rungs."""
    rungs = tuple(replace(r, prediction=p) for r, p in zip(rungs, predictions[1:]))
    return RateLadder(
        images=torch.cat([x] + [r.x_hat for r in rungs]), codecs=tuple(r.codec for r in rungs),
        qualities=tuple(r.quality for r in rungs),
        measured_bpp=tuple(r.metrics.measured_bpp for r in rungs), psnr=tuple(r.metrics.psnr for r in rungs),
        ms_ssim=tuple(r.metrics.ms_ssim for r in rungs), task=task_name, predictions=tuple(predictions), rungs=rungs,
    )
