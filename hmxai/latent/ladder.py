"""Three machines on one rate ladder: decode-then-classify, the latent ANN and the latent SNN.

Every rung comes from :func:`hmxai.decode` (real bytes). The image task classifies the decoded
image; each latent task reads the latent those bytes carry (:meth:`LatentTaskModel.predict`:
the rung's ``y_hat``, equal bit for bit to what :meth:`read_latent` entropy-decodes). Agreement
is always with the image task on the *original* image, the machine's reference.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional, Sequence, Tuple

import torch

from hmxai.errors import InvalidArgumentError


@dataclass(frozen=True)
class MachineRow:
    """One machine on one rung: its top-1, whether it agrees with the reference, what it cost.

    ``macs``: per image (the decoder, or the synthesis layers a latent machine runs, included);
    ``energy_mj`` and ``spikes``: spiking machines only (fp32, Horowitz 2014; the synthesis layers
    it runs count as MACs), None otherwise."""

    machine: str
    top1: int
    top1_label: str
    agreement: bool
    macs: float
    energy_mj: Optional[float] = None
    spikes: Optional[float] = None


@dataclass(frozen=True)
class LatentRung:
    codec: str
    quality: float
    measured_bpp: float
    psnr: float
    machines: Tuple[MachineRow, ...]


@dataclass(frozen=True)
class MachinesLadder:
    """``reference``: the image task's top-1 on the original; ``rungs``: one per quality."""

    image_size: Tuple[int, int]
    reference: int
    reference_label: str
    rungs: Tuple[LatentRung, ...]

    def to_dict(self) -> dict:
        return asdict(self)


def machines_ladder(image, codec="hmxai-vbr", qualities: Optional[Sequence[float]] = None,
                    latent_tasks: Sequence = ("efficientnet-lite0-latent", "efficientnet-lite0-latent-snn"),
                    image_task="efficientnet-lite0", progress: bool = False) -> MachinesLadder:
    """Decode-then-classify against machines that read the latent, on every rung of ``codec``."""
    from hmxai.explain.ladder import decode_rungs
    from hmxai.latent.compute import front_macs, image_task_macs, network_macs
    from hmxai.spiking.energy import energy_joules
    from hmxai.pipeline import resolve_task
    from hmxai.spiking.energy import measure

    image_task = resolve_task(image_task)
    latent_tasks = [resolve_task(t) for t in latent_tasks]
    if any(getattr(t, "reads", None) != "latent" for t in latent_tasks):
        raise InvalidArgumentError("latent_tasks must read latents (hmxai.latent.LATENT_TASKS)")
    x, rungs = decode_rungs(image, codec, qualities, progress=progress)
    reference = image_task.predict(x, k=1)[0]
    size = tuple(x.shape[-2:])
    image_cost = decoder_macs_of(rungs[0], size) + image_task_macs(image_task) if rungs else 0.0
    latent_cost = [network_macs(t) for t in latent_tasks]
    out = []
    for rung in rungs:
        seen = image_task.predict(rung.x_hat, k=1)[0]
        rows = [MachineRow("decode-then-classify", seen.indices[0], seen.labels[0],
                           seen.indices[0] == reference.indices[0], image_cost)]
        for task, cost in zip(latent_tasks, latent_cost):
            y_hat, isize = task.latent_of(rung)
            energy = spikes = None
            front = front_macs(task, y_hat)  # the codec's synthesis layers it runs: real-valued MACs
            with torch.no_grad():
                if hasattr(task.net, "analog"):  # spiking: count while it runs
                    logits, reports = measure(task.net, task.features(y_hat, isize))
                    cost = reports[0].macs
                    energy = (reports[0].energy_j + energy_joules(front, 0.0)) * 1e3
                    spikes = reports[0].spikes
                else:
                    logits = task(y_hat, isize)
            cost = cost + front
            p = task.top_k(logits, 1)[0]
            rows.append(MachineRow(task.name, p.indices[0], p.labels[0], p.indices[0] == reference.indices[0],
                                   float(cost), energy, spikes))
        out.append(LatentRung(rung.codec, rung.quality, rung.metrics.measured_bpp, rung.metrics.psnr, tuple(rows)))
    return MachinesLadder(size, reference.indices[0], reference.labels[0], tuple(out))


def decoder_macs_of(rung, size) -> float:
    from hmxai.codecs import create_codec
    from hmxai.latent.compute import decoder_macs

    return decoder_macs(create_codec(rung.codec, quality=rung.quality), size)
