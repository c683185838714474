"""EfficientNet-Lite0 as a spiking network: integrate-and-fire neurons in place of every ReLU6.

Data flow over ``T`` time steps (``(t, B, C, H, W)`` tensors, a window of time steps at a time)::

    image --encode--> stem conv -> IF --> 16 MBConv blocks --> head conv -> IF --> mean over T
                                          [expand 1x1 -> IF] -> depthwise -> IF -> project 1x1 (+ skip)
      --> "readout" (B, 1280, 7, 7): the time-averaged head spikes, times their thresholds
      --> global average pool -> fully connected -> logits

Batch norm is folded into every convolution (:class:`~hmxai.spiking.layers.FoldedConv`). The
project convolutions are linear in the ANN (no activation), so they stay linear here: a block's
output is a real-valued current (projected spikes plus the skip), and the layer that reads it
(the next block's expand convolution, or the head) does multiply-accumulates, not accumulates
(counted so by :mod:`hmxai.spiking.energy`).

**Logits** are the fully connected layer applied to the time average of the readout: the
membrane potential at ``T`` of non-firing output neurons that integrate the classifier's input
current at every step, divided by ``T``. With ``T -> infinity`` and thresholds at 6 they tend
to the ANN's logits.

**Encodings**: ``direct`` feeds the analog image to the stem convolution at every step (its
current is the same each step, so it is computed once); ``rate`` feeds Bernoulli spikes of the
pixel values in [0, 1] (step ``t`` drawn from a generator seeded by ``(seed, t)``, one draw
shared by every image of a batch, so results never depend on the batch or the window size).
"""

from __future__ import annotations

from typing import Dict, Optional

import torch
from torch import Tensor, nn

from hmxai.errors import InvalidArgumentError
from hmxai.spiking.layers import FoldedConv, over_time
from hmxai.spiking.neurons import IFNeurons

ENCODINGS = ("direct", "rate")
RELU6 = 6.0


class Readout(nn.Identity):
    """The time-averaged head spikes ``(B, 1280, h, w)`` (times thresholds): Grad-CAM's layer."""


class SpikingMBConv(nn.Module):
    """One MBConv block of EfficientNet-Lite (no squeeze-excitation) with IF neurons."""

    def __init__(self, block: nn.Module):
        super().__init__()
        args = block._block_args
        if getattr(block, "has_se", False):
            raise InvalidArgumentError("blocks with squeeze-excitation cannot be converted (use a Lite model)")
        self.expand = FoldedConv(block._expand_conv, block._bn0) if args.expand_ratio != 1 else None
        self.expand_if = IFNeurons(torch.full((self.expand.conv.out_channels,), RELU6)) if self.expand else None
        self.depthwise = FoldedConv(block._depthwise_conv, block._bn1)
        self.depthwise_if = IFNeurons(torch.full((self.depthwise.conv.out_channels,), RELU6))
        self.project = FoldedConv(block._project_conv, block._bn2)
        self.skip = bool(block.id_skip and args.stride == 1 and args.input_filters == args.output_filters)


class SpikingEfficientNet(nn.Module):
    """EfficientNet-Lite converted to integrate-and-fire neurons (see the module's docstring).

    Args:
        ann: an ``efficientnet_lite_pytorch.EfficientNet`` (Lite: ReLU6, no squeeze-excitation),
            in eval mode; its weights are copied (batch norm folded), the ANN is not changed.
        steps: time steps ``T``; ``encoding``: ``direct`` or ``rate``; ``seed``: the rate code's seed.
        neuron, burst: the neuron model of every IF layer (:data:`~hmxai.spiking.neurons.NEURONS`).
        mean, std: the input normalization the ANN was trained with (the rate code needs [0, 1]).
        budget: at most this many (time step x image) pairs per convolution call (memory bound).
    """

    def __init__(self, ann: nn.Module, steps: int = 32, encoding: str = "direct", seed: int = 0,
                 neuron: str = "if", burst: int = 1,
                 mean=(0.498, 0.498, 0.498), std=(0.502, 0.502, 0.502), budget: int = 64):
        super().__init__()
        self.stem = FoldedConv(ann._conv_stem, ann._bn0)
        self.stem_if = IFNeurons(torch.full((self.stem.conv.out_channels,), RELU6))
        self.blocks = nn.ModuleList(SpikingMBConv(b) for b in ann._blocks)
        self.head = FoldedConv(ann._conv_head, ann._bn1)
        self.head_if = IFNeurons(torch.full((self.head.conv.out_channels,), RELU6))
        self.readout = Readout()
        self.fc = nn.Linear(ann._fc.in_features, ann._fc.out_features)
        with torch.no_grad():
            self.fc.weight.copy_(ann._fc.weight)
            self.fc.bias.copy_(ann._fc.bias)
        self.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))
        self.steps, self.encoding, self.seed, self.budget = steps, encoding, seed, budget
        self.neuron, self.burst = neuron, burst
        self.configure(steps=steps, encoding=encoding, seed=seed, neuron=neuron, burst=burst)

    # ------------------------------------------------------------------ settings
    def configure(self, steps: Optional[int] = None, encoding: Optional[str] = None, seed: Optional[int] = None,
                  neuron: Optional[str] = None, burst: Optional[int] = None):
        """Set ``T``, the encoding, the seed or the neuron model (checked); returns ``self``."""
        from hmxai.spiking.neurons import NEURONS

        if neuron is not None and neuron not in NEURONS:
            raise InvalidArgumentError(f"neuron must be one of {', '.join(NEURONS)}, got {neuron!r}")
        if burst is not None and (isinstance(burst, bool) or not isinstance(burst, int) or burst < 1):
            raise InvalidArgumentError(f"burst must be a positive integer, got {burst!r}")
        self.neuron = neuron or self.neuron
        self.burst = burst or self.burst
        for site in self.sites().values():
            site.kind, site.burst = self.neuron, self.burst
        if steps is not None:
            if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
                raise InvalidArgumentError(f"steps (T) must be a positive integer, got {steps!r}")
            self.steps = steps
        if encoding is not None:
            if encoding not in ENCODINGS:
                raise InvalidArgumentError(f"encoding must be one of {', '.join(ENCODINGS)}, got {encoding!r}")
            if encoding == "rate" and self.stem.conv.in_channels != 3:
                raise InvalidArgumentError("the rate code encodes images' pixels; a network that reads a latent "
                                           "takes the direct encoding")
            self.encoding = encoding
        if seed is not None:
            self.seed = int(seed)
        return self

    def sites(self) -> Dict[str, IFNeurons]:
        """Every IF layer by name, in order: ``stem``, ``blocks.i.expand``, ``blocks.i.depthwise``, ``head``."""
        out = {"stem": self.stem_if}
        for i, b in enumerate(self.blocks):
            if b.expand_if is not None:
                out[f"blocks.{i}.expand"] = b.expand_if
            out[f"blocks.{i}.depthwise"] = b.depthwise_if
        out["head"] = self.head_if
        return out

    def linears(self) -> Dict[str, FoldedConv]:
        """Every convolution by the name of the IF layer it feeds (project convs: ``blocks.i.project``)."""
        out = {"stem": self.stem}
        for i, b in enumerate(self.blocks):
            if b.expand is not None:
                out[f"blocks.{i}.expand"] = b.expand
            out[f"blocks.{i}.depthwise"] = b.depthwise
            out[f"blocks.{i}.project"] = b.project
        out["head"] = self.head
        return out

    # ------------------------------------------------------------------ the ANN, folded
    def analog(self, x: Tensor, observe=None, steps: Optional[int] = None) -> Tensor:
        """The ANN this network was converted from (batch norm folded, ReLU6): normalized
        ``x: (B, 3, S, S)`` -> logits. ``observe(name, pre_activation)`` sees each IF site's input.

        With ``steps=T``, every activation is instead what a ``signed-burst`` layer sends in ``T``
        steps when no burst bound binds: ``theta / T * clamp(floor(v0 + T * I / theta), 0, T)`` of
        its mean input current ``I`` (direct encoding). One analog pass then gives the spiking
        network's logits in that limit (equal to :meth:`run` with ``burst >= T``, up to float
        rounding at the quantization steps): the fast path for choosing a calibration."""
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
            raise InvalidArgumentError(f"steps (T) must be a positive integer, got {steps!r}")
        sites = self.sites() if steps is not None else {}

        def act(name, current):
            if observe is not None:
                observe(name, current)
            if steps is None:
                return current.clamp(0.0, RELU6)
            neurons = sites[name]
            theta = neurons.threshold.view(1, -1, 1, 1)
            count = torch.floor(neurons.v0 + steps * current / theta).clamp(0.0, float(steps))
            return count * theta / steps

        h = act("stem", self.stem(x))
        for i, b in enumerate(self.blocks):
            inp = h
            if b.expand is not None:
                h = act(f"blocks.{i}.expand", b.expand(h))
            h = act(f"blocks.{i}.depthwise", b.depthwise(h))
            h = b.project(h)
            if b.skip:
                h = h + inp
        h = act("head", self.head(h))
        return self.fc(self.readout(h).mean(dim=(2, 3)))

    # ------------------------------------------------------------------ the SNN
    def forward(self, x: Tensor) -> Tensor:
        """Normalized ``x: (B, 3, S, S)`` -> logits (B, 1000) after ``T`` steps (see the module's docstring)."""
        return self.run(x)

    def run(self, x: Tensor, recorder=None, upto: Optional[str] = None):
        """The spiking forward pass. ``recorder`` (:class:`~hmxai.spiking.energy.SpikeRecorder`)
        counts spikes and operations. With ``upto`` (a site name), returns that site's time-averaged
        output ``(B, C, H, W)`` (spike rate times threshold) instead of logits (for calibration)."""
        channels = self.stem.conv.in_channels
        if x.dim() != 4 or x.shape[1] != channels:
            raise InvalidArgumentError(f"expected normalized inputs (B, {channels}, H, W), got {tuple(x.shape)}")
        T, B = self.steps, x.shape[0]
        window = max(1, min(T, self.budget // max(B, 1)))
        mems: Dict[str, Tensor] = {}
        total: Optional[Tensor] = None
        stem_current = self.stem(x) if self.encoding == "direct" else None
        if recorder is not None:
            recorder.start(self, x, T)
            if stem_current is not None:
                recorder.real("stem", self.stem, x.shape[-2:], 1)  # the same current every step: computed once
        for t0 in range(0, T, window):
            t = min(window, T - t0)
            if stem_current is not None:
                current = stem_current.unsqueeze(0).expand(t, *stem_current.shape)
            else:
                spikes_in = self._rate_spikes(x, t0, t)
                if recorder is not None:
                    recorder.binary("stem", self.stem, spikes_in)  # binary pixels: accumulates
                current = over_time(self.stem, (spikes_in - self.mean) / self.std)
            out = self._window(current, mems, recorder, upto)
            total = out.sum(0) if total is None else total + out.sum(0)
        mean = total / T
        if upto is not None:
            return mean
        logits = self.fc(self.readout(mean).mean(dim=(2, 3)))
        if recorder is not None:
            recorder.real("fc", self.fc, None, 1)
        return logits

    def _rate_spikes(self, x: Tensor, t0: int, t: int) -> Tensor:
        pixels = (x * self.std + self.mean).clamp(0.0, 1.0)
        draws = []
        for step in range(t0, t0 + t):
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
            draws.append(torch.rand((1, *x.shape[1:]), generator=g).to(x.device))
        return (torch.stack(draws) < pixels.unsqueeze(0)).to(x.dtype)

    def _fire(self, name: str, neurons: IFNeurons, current: Tensor, mems, recorder):
        """Spikes of one IF layer over the window: (value for the next layer, spikes)."""
        spikes, mems[name] = neurons(current, mems.get(name))
        if recorder is not None:
            recorder.spikes(name, spikes)
        return spikes * neurons.threshold.view(1, 1, -1, 1, 1), spikes

    def _window(self, current: Tensor, mems, recorder, upto) -> Tensor:
        h, spikes = self._fire("stem", self.stem_if, current, mems, recorder)
        if upto == "stem":
            return h
        for i, b in enumerate(self.blocks):
            inp = h  # block 0 reads the stem's spikes; later blocks a real-valued current
            if b.expand is not None:
                self._count(recorder, f"blocks.{i}.expand", b.expand, h, spikes)
                h, spikes = self._fire(f"blocks.{i}.expand", b.expand_if, over_time(b.expand, h), mems, recorder)
                if upto == f"blocks.{i}.expand":
                    return h
            self._count(recorder, f"blocks.{i}.depthwise", b.depthwise, h, spikes)
            h, spikes = self._fire(f"blocks.{i}.depthwise", b.depthwise_if, over_time(b.depthwise, h), mems, recorder)
            if upto == f"blocks.{i}.depthwise":
                return h
            self._count(recorder, f"blocks.{i}.project", b.project, h, spikes)
            h, spikes = over_time(b.project, h), None
            if b.skip:
                h = h + inp
        self._count(recorder, "head", self.head, h, spikes)
        h, _ = self._fire("head", self.head_if, over_time(self.head, h), mems, recorder)
        if upto not in (None, "head"):
            raise InvalidArgumentError(f"no IF layer named {upto!r}; the layers are {', '.join(self.sites())}")
        return h

    @staticmethod
    def _count(recorder, name: str, conv: FoldedConv, h: Tensor, spikes: Optional[Tensor]) -> None:
        """Operations of ``conv`` on this window: accumulates when its input is spikes, else MACs."""
        if recorder is None:
            return
        if spikes is not None:
            recorder.binary(name, conv, spikes)
        else:
            recorder.real(name, conv, h.shape[-2:], h.shape[0])
