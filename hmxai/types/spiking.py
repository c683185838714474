"""Results of spiking task models: per-layer counts, energy, and bits versus spikes on a ladder."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple

from torch import Tensor

from hmxai.types.ladder import RateLadder


@dataclass(frozen=True)
class LayerCount:
    """One layer of one image: ``spikes``/``neurons``/``firing_rate`` for IF layers (None
    otherwise); ``acs`` and ``macs`` for the convolution (or classifier) of that name."""

    name: str
    neurons: Optional[int]
    spikes: Optional[float]
    firing_rate: Optional[float]
    acs: float
    macs: float

    def to_dict(self) -> dict:
        return {"name": self.name, "neurons": self.neurons, "spikes": self.spikes,
                "firing_rate": self.firing_rate, "acs": self.acs, "macs": self.macs}


@dataclass(frozen=True)
class EnergyReport:
    """The work of one image through a spiking network, and of the ANN it was converted from.

    Attributes:
        steps, encoding, neuron: how the network ran; ``precision``: the energy table's row.
        layers: per layer (:class:`LayerCount`), in the order of the network.
        spikes: total spikes; ``acs``/``macs``: totals of the SNN; ``ann_macs``: the ANN's.
        energy_j, ann_energy_j: joules of the SNN and of the ANN at ``precision``.
        spike_map: (h, w) spikes per input-pixel cell of the stem's grid, all layers summed after
            resizing each layer's map to that grid (None unless asked for).
    """

    steps: int
    encoding: str
    neuron: str
    precision: str
    layers: Tuple[LayerCount, ...]
    spikes: float
    acs: float
    macs: float
    ann_macs: float
    energy_j: float
    ann_energy_j: float
    spike_map: Optional[Tensor] = field(default=None, compare=False, repr=False)

    @property
    def energy_ratio(self) -> float:
        """SNN energy over ANN energy (below 1: the SNN spends less)."""
        return self.energy_j / self.ann_energy_j

    def to_dict(self) -> dict:
        return {"steps": self.steps, "encoding": self.encoding, "neuron": self.neuron,
                "precision": self.precision, "spikes": self.spikes, "acs": self.acs, "macs": self.macs,
                "ann_macs": self.ann_macs, "energy_j": self.energy_j, "ann_energy_j": self.ann_energy_j,
                "energy_ratio": self.energy_ratio, "layers": [lc.to_dict() for lc in self.layers]}



@dataclass(frozen=True)
class BitsVsSpikes:
    """A spiking task on a rate ladder: what each rung costs in bits and in spikes.

    Attributes:
        ladder: the original and its decoded rungs, with the spiking task's top-5 on each.
        reports: (1 + R,) :class:`EnergyReport` of each row (row 0 the original), with spike maps.
        raster: (1 + R,) per row, ``(T, n)`` spikes of ``n`` sampled neurons over time (signed for
            signed-burst neurons); ``raster_layers``: the layer of each of the ``n`` columns.
    """

    ladder: RateLadder
    reports: Tuple[EnergyReport, ...]
    raster: Tuple[Tensor, ...] = field(repr=False, compare=False)
    raster_layers: Tuple[str, ...] = field(repr=False, compare=False)

    def agreement(self, row: int) -> bool:
        """Top-1 on row ``row`` equals top-1 on the original (both from the spiking task)."""
        p = self.ladder.predictions
        return p[row].indices[0] == p[0].indices[0]

    def to_dict(self) -> dict:
        rows = []
        for i, rep in enumerate(self.reports):
            d = {"row": self.ladder.row_label(i), "codec": None if i == 0 else self.ladder.codecs[i - 1],
                 "quality": None if i == 0 else self.ladder.qualities[i - 1],
                 "measured_bpp": None if i == 0 else self.ladder.measured_bpp[i - 1],
                 "psnr": None if i == 0 else self.ladder.psnr[i - 1],
                 "top1": self.ladder.predictions[i].indices[0], "top1_label": self.ladder.predictions[i].labels[0],
                 "agreement": self.agreement(i)}
            d.update({k: v for k, v in rep.to_dict().items() if k != "layers"})
            d["firing_rates"] = {lc.name: lc.firing_rate for lc in rep.layers if lc.firing_rate is not None}
            rows.append(d)
        return {"task": self.ladder.task, "rows": rows}
