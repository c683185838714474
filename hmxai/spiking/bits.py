"""Bits versus spikes: a spiking task on every rung of a rate ladder.

Each decoded rung (real bytes, :func:`hmxai.decode`) and the original go through the spiking
network once, in one batch, with a recorder: the same pass gives the predictions (attached to
the rungs, as :func:`~hmxai.explain.ladder.rate_ladder` does), the per-layer spikes and firing
rates, synaptic operations, energy, spatial spike maps and a spike raster.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch

from hmxai.errors import InvalidArgumentError
from hmxai.types.spiking import BitsVsSpikes


def bits_vs_spikes(image, codec=None, qualities: Optional[Sequence[float]] = None, task="efficientnet-lite0-snn", *,
                   steps: Optional[int] = None, raster: int = 8, precision: str = "fp32",
                   progress: bool = False) -> BitsVsSpikes:
    """Compress ``image`` at every rung and count what the spiking ``task`` spends on each.

    Args:
        image: one image (anything :func:`hmxai.load_image` reads).
        codec, qualities: the ladder, as :func:`~hmxai.explain.ladder.rate_ladder` takes them.
        task: a spiking task model or its registry name; ``steps``: its T for this call (default its own).
        raster: neurons sampled per layer for the raster (0: none).
    """
    from hmxai.explain.ladder import decode_rungs, ladder_of
    from hmxai.pipeline import resolve_task
    from hmxai.spiking.energy import is_spiking, measure_task

    task = resolve_task(task)
    if not is_spiking(task):
        raise InvalidArgumentError(f"bits_vs_spikes needs a spiking task (efficientnet-lite0-snn), not {task.name!r}")
    x, rungs = decode_rungs(image, codec, qualities, progress=progress)
    old = task.net.steps
    try:
        if steps is not None:
            task.net.configure(steps=steps)
        logits, reports, recorder = measure_task(task, torch.cat([x] + [r.x_hat for r in rungs]), maps=True,
                                                 precision=precision, raster=raster)
    finally:
        task.net.configure(steps=old)
    ladder = ladder_of(x, rungs, tuple(task.top_k(logits, 5)), task.name)
    rasters = tuple(recorder.raster(i)[0] for i in range(len(reports))) if raster else ()
    layers = recorder.raster(0)[1] if raster else ()
    return BitsVsSpikes(ladder=ladder, reports=tuple(reports), raster=rasters, raster_layers=layers)
