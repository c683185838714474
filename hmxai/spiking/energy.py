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

from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor

from hmxai.errors import InvalidArgumentError
from hmxai.types.spiking import EnergyReport, LayerCount

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


class SpikeRecorder:
    """Collects counts during one :meth:`SpikingEfficientNet.run` (per image of the batch).

    Made by :func:`measure`; the network calls :meth:`spikes`, :meth:`binary` and :meth:`real`.
    """

    def __init__(self, maps: bool = False, raster: int = 0):
        self.maps, self.raster_per_layer = maps, int(raster)
        self._raster: Dict[str, List[Tensor]] = {}
        self._raster_index: Dict[str, Tensor] = {}
        self._spikes: Dict[str, Tensor] = {}
        self._neurons: Dict[str, int] = {}
        self._acs: Dict[str, Tensor] = {}
        self._macs: Dict[str, float] = {}
        self._maps: Dict[str, Tensor] = {}
        self.batch = 0
        self.steps = 0
        self.input_size = (224, 224)

    def start(self, net, x: Tensor, steps: int) -> None:
        self.batch, self.steps, self.input_size = x.shape[0], steps, tuple(x.shape[-2:])

    def spikes(self, name: str, spikes: Tensor) -> None:
        """spikes: (t, B, C, H, W) net spikes of one window (signed for ``signed-burst``)."""
        count = spikes.detach().abs().sum(0)  # (B, C, H, W): every spike counts, either sign
        self._spikes[name] = self._spikes.get(name, 0) + count.double().sum(dim=(1, 2, 3))
        self._neurons[name] = int(count[0].numel())
        if self.maps:
            self._maps[name] = self._maps.get(name, 0) + count.sum(1)
        if self.raster_per_layer:
            flat = spikes.detach().reshape(spikes.shape[0], spikes.shape[1], -1)
            if name not in self._raster_index:  # evenly spaced neurons of the layer, fixed for the call
                n = flat.shape[2]
                self._raster_index[name] = torch.linspace(0, n - 1, min(n, self.raster_per_layer)).round().long()
            self._raster.setdefault(name, []).append(flat[:, :, self._raster_index[name]])

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

    def raster(self, image: int) -> Tuple[Tensor, Tuple[str, ...]]:
        """``(T, n)`` spikes of the sampled neurons of image ``image`` (layers in order) and the
        layer of each column (needs ``raster > 0``)."""
        parts, layers = [], []
        for name, chunks in self._raster.items():
            r = torch.cat(chunks)[:, image]
            parts.append(r)
            layers += [name] * r.shape[1]
        return torch.cat(parts, dim=1), tuple(layers)

    def reports(self, net, precision: str = "fp32") -> List[EnergyReport]:
        """One :class:`EnergyReport` per image of the batch."""
        ann = ann_macs(net, self.input_size)
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
def measure(net, x: Tensor, maps: bool = False, precision: str = "fp32", recorder: Optional[SpikeRecorder] = None):
    """Run the spiking network on normalized ``x: (B, 3, S, S)``: (logits, one report per image)."""
    recorder = recorder or SpikeRecorder(maps=maps)
    logits = net.run(x, recorder=recorder)
    return logits, recorder.reports(net, precision)


def is_spiking(task) -> bool:
    """Whether ``task`` (a :class:`~hmxai.tasks.base.TaskModel`) runs a spiking network."""
    from hmxai.spiking.network import SpikingEfficientNet

    return isinstance(getattr(task, "net", None), SpikingEfficientNet)


def measure_task(task, images: Tensor, maps: bool = False, precision: str = "fp32", raster: int = 0):
    """A spiking task on ``images: (B, 3, H, W)`` in [0, 1] (its own preprocessing):
    (logits, one :class:`EnergyReport` per image, the recorder)."""
    from hmxai.images import check_batch
    from hmxai.modes import eval_mode

    if not is_spiking(task):
        raise InvalidArgumentError(f"{getattr(task, 'name', task)!r} is not a spiking task model")
    check_batch(images)
    recorder = SpikeRecorder(maps=maps, raster=raster)
    with eval_mode(task):
        logits, reports = measure(task.net, task.preprocess(images.float()), precision=precision, recorder=recorder)
    return logits, reports, recorder


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
