"""Counting a spiking network's work and turning it into energy.

Per layer, per image:

* **spikes** of every IF layer, its **firing rate** (spikes per neuron per time step) and where
  they fall (a spatial map summed over channels);
* **synaptic operations** (accumulates, ACs) of every layer whose input is spikes: each spike
  times the number of output neurons it reaches. Counted exactly, with the kernel's footprint
  at the borders and strides (a convolution of the spike counts with a kernel of ones, as Sinabs
  counts them); a negative or burst spike counts once per spike;
* **MACs** of every layer whose input is real-valued (the syops-counter convention): the
  first convolution under ``direct`` encoding (its current is the same at every step, so it is
  computed once), the layers that read a block's output (projected spikes plus the skip: the next
  expand convolution and the head, every step) and the classifier (once, on the time average);
* the **ANN's MACs** (every convolution and the classifier, once), for comparison.

Energy uses Horowitz's 45 nm figures (ISSCC 2014, "Computing's energy problem"), as the SNN
literature (and SpikingJelly's and syops-counter's tables) does: a MAC costs a multiply plus an
add, an accumulate an add. Biases and membrane updates are not counted (the convention).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor

from hmxai.errors import InvalidArgumentError

#: Horowitz (ISSCC 2014), 45 nm, picojoules: (multiply-accumulate, accumulate) per operation.
ENERGY_PJ: Dict[str, Tuple[float, float]] = {
    "fp32": (3.7 + 0.9, 0.9),
    "fp16": (1.1 + 0.4, 0.4),
    "int32": (3.1 + 0.1, 0.1),
    "int8": (0.2 + 0.03, 0.03),
}


def energy_joules(macs: float, acs: float, precision: str = "fp32") -> float:
    """Energy of ``macs`` multiply-accumulates and ``acs`` accumulates at ``precision`` (J)."""
    if precision not in ENERGY_PJ:
        raise InvalidArgumentError(f"precision must be one of {', '.join(ENERGY_PJ)}, got {precision!r}")
    mac, ac = ENERGY_PJ[precision]
    return (macs * mac + acs * ac) * 1e-12


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


class SpikeRecorder:
    """Collects counts during one :meth:`SpikingEfficientNet.run` (per image of the batch).

    Made by :func:`measure`; the network calls :meth:`spikes`, :meth:`binary` and :meth:`real`.
    """

    def __init__(self, maps: bool = False):
        self.maps = maps
        self._spikes: Dict[str, Tensor] = {}
        self._neurons: Dict[str, int] = {}
        self._acs: Dict[str, Tensor] = {}
        self._macs: Dict[str, float] = {}
        self._maps: Dict[str, Tensor] = {}
        self.batch = 0
        self.steps = 0

    def start(self, net, x: Tensor, steps: int) -> None:
        self.batch, self.steps = x.shape[0], steps

    def spikes(self, name: str, spikes: Tensor) -> None:
        """spikes: (t, B, C, H, W) net spikes of one window (signed for ``signed-burst``)."""
        count = spikes.detach().abs().sum(0)  # (B, C, H, W): every spike counts, either sign
        self._spikes[name] = self._spikes.get(name, 0) + count.double().sum(dim=(1, 2, 3))
        self._neurons[name] = int(count[0].numel())
        if self.maps:
            self._maps[name] = self._maps.get(name, 0) + count.sum(1)

    def binary(self, name: str, conv, spikes: Tensor) -> None:
        """Accumulates of ``conv`` on input spikes (t, B, C, H, W) of one window."""
        counts = spikes.detach().abs().sum(0)
        self._acs[name] = self._acs.get(name, 0) + conv.fan_in_count(counts.float())

    def real(self, name: str, module, in_size, steps: int) -> None:
        """MACs of ``module`` run ``steps`` times on a real-valued input of spatial ``in_size``."""
        if in_size is None:  # the classifier
            macs = module.in_features * module.out_features
        else:
            macs = module.macs_per_image(tuple(in_size))
        self._macs[name] = self._macs.get(name, 0.0) + float(macs) * steps

    def finish(self) -> None:
        pass

    def reports(self, net, precision: str = "fp32") -> List[EnergyReport]:
        """One :class:`EnergyReport` per image of the batch."""
        ann = ann_macs(net)
        names = _layer_order(net)
        out = []
        for i in range(self.batch):
            layers = []
            for name in names:
                spikes = float(self._spikes[name][i]) if name in self._spikes else None
                neurons = self._neurons.get(name)
                rate = None if spikes is None else spikes / (neurons * self.steps)
                acs = float(self._acs[name][i]) if name in self._acs else 0.0
                layers.append(LayerCount(name, neurons, spikes, rate, acs, self._macs.get(name, 0.0)))
            acs = sum(lc.acs for lc in layers)
            macs = sum(lc.macs for lc in layers)
            spike_map = None
            if self.maps:
                grid = tuple(self._maps["stem"].shape[-2:])
                spike_map = sum(_to_grid(m[i].float(), grid) for m in self._maps.values())
            out.append(EnergyReport(
                steps=self.steps, encoding=net.encoding, neuron=net.neuron, precision=precision,
                layers=tuple(layers), spikes=sum(lc.spikes or 0.0 for lc in layers), acs=acs, macs=macs,
                ann_macs=ann, energy_j=energy_joules(macs, acs, precision),
                ann_energy_j=energy_joules(ann, 0.0, precision), spike_map=spike_map))
        return out


def _to_grid(counts: Tensor, size: Tuple[int, int]) -> Tensor:
    """(h, w) counts of a coarser layer spread evenly over the (H, W) grid (totals kept)."""
    spread = (size[0] * size[1]) / (counts.shape[0] * counts.shape[1])
    return torch.nn.functional.interpolate(counts[None, None], size=size, mode="nearest")[0, 0] / spread


def _layer_order(net) -> List[str]:
    names = list(net.linears())
    return names + ["fc"]


def ann_macs(net, input_size: Tuple[int, int] = (224, 224)) -> float:
    """MACs of one image through the ANN the network was converted from (convolutions and classifier)."""
    size = tuple(input_size)
    total = 0.0
    for name, conv in net.linears().items():
        total += conv.macs_per_image(_input_size(net, name, size))
    return total + net.fc.in_features * net.fc.out_features


def _input_size(net, name: str, size: Tuple[int, int]) -> Tuple[int, int]:
    """Spatial size of the input of convolution ``name`` for an image of ``size`` (from the strides)."""
    h, w = size
    for n, conv in net.linears().items():
        if n == name:
            return h, w
        c = conv.conv
        pad = conv.pad.padding if isinstance(conv.pad, torch.nn.ZeroPad2d) else (0, 0, 0, 0)
        h = (h + pad[2] + pad[3] + 2 * c.padding[0] - c.dilation[0] * (c.kernel_size[0] - 1) - 1) // c.stride[0] + 1
        w = (w + pad[0] + pad[1] + 2 * c.padding[1] - c.dilation[1] * (c.kernel_size[1] - 1) - 1) // c.stride[1] + 1
    raise InvalidArgumentError(f"no convolution named {name!r}")


@torch.no_grad()
def measure(net, x: Tensor, maps: bool = False, precision: str = "fp32"):
    """Run the spiking network on normalized ``x: (B, 3, S, S)``: (logits, one report per image)."""
    recorder = SpikeRecorder(maps=maps)
    logits = net.run(x, recorder=recorder)
    return logits, recorder.reports(net, precision)


def count_operations(model: torch.nn.Module, x: Tensor) -> float:
    """Operations of one forward pass of an ANN on ``x`` per image, counted as syops-counter and
    ptflops count them: convolutions and linear layers their MACs (bias not counted), batch norm
    2 per output element (1 without affine), ReLU-type activations and pooling 1 per element
    (output for activations, input for pooling). Hooks are removed before it returns."""
    from torch import nn

    total = [0.0]

    def conv(m, inp, out):
        per_output = (m.in_channels // m.groups) * int(torch.tensor(m.kernel_size).prod())
        total[0] += out.numel() * per_output

    def linear(m, inp, out):
        total[0] += out.numel() * m.in_features

    def bn(m, inp, out):
        total[0] += out.numel() * (2 if m.affine else 1)

    def act(m, inp, out):
        total[0] += out.numel()

    def pool(m, inp, out):
        total[0] += inp[0].numel()

    rules = ((nn.Conv2d, conv), (nn.Linear, linear), (nn.BatchNorm2d, bn),
             ((nn.ReLU, nn.ReLU6, nn.LeakyReLU), act),
             ((nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d), pool))
    handles = []
    try:
        for m in model.modules():
            for kinds, hook in rules:
                if isinstance(m, kinds):
                    handles.append(m.register_forward_hook(hook))
                    break
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return total[0] / x.shape[0]
