"""Integrate-and-fire neurons for converted networks: snntorch's ``Leaky`` with ``beta = 1``.

One :class:`IFNeurons` layer holds per-channel thresholds ``theta`` (from calibration) and runs
snntorch's neuron over a window of time steps. Its input current is divided by ``theta`` so the
neuron fires at 1; a spike then stands for ``theta`` (what the next layer receives). Reset is by
subtraction, so the spike count over ``T`` steps approximates ``clamp(I, 0, theta) * T / theta``:
the ANN's clipped ReLU (ReLU6 with ``theta <= 6``), to ``1/T`` of ``theta``.

The membrane starts at ``v0 * theta`` (``v0 = 0.5``: the "shift" of QCFS, Bu et al. ICLR 2022,
which halves the expected quantization error).

Two neuron models (``NEURONS``):

* ``if``: snntorch's neuron as it is: binary spikes, at most one per step.
* ``signed-burst``: the same membrane, but after step ``t`` the neuron has emitted exactly
  ``clamp(floor(v_t), 0, t)`` spikes net, where ``v_t`` is its membrane without resets (``v0``
  plus the integrated input over ``theta``): it may emit up to ``burst`` spikes in one step
  (burst spikes, Li & Zeng IJCAI 2022) and a negative spike to take back one it sent too early
  (signed neurons with memory, Wang et al. IJCAI 2022). Its count after ``T`` steps is the
  ANN's clipped activation rounded to ``theta / T``, whatever the timing of its input was, which
  removes the "unevenness" error that grows with depth in plain IF conversion. Every spike,
  negative or in a burst, counts as one spike for energy.

State is scoped to one call: the membrane is created at the start of every call (or handed in
from the previous time window of the same call) and nothing is left on the module afterwards.
snntorch registers every neuron in a class-level list (``SpikingNeuron.instances``, used by its
process-wide ``reset_hidden``); the neurons made here are taken out of that list, so they are
freed with their network and no other model's reset touches them.
"""

from __future__ import annotations

import threading
from typing import Tuple

import torch
from torch import Tensor, nn


def _private_leaky(**options) -> nn.Module:
    """An snntorch ``Leaky`` (IF by default: ``beta = 1``, threshold 1, reset by subtraction, arctan
    surrogate) taken out of snntorch's process-wide list of neurons."""
    import snntorch as snn
    from snntorch import surrogate
    from snntorch._neurons.neurons import SpikingNeuron

    settings = dict(beta=1.0, threshold=1.0, spike_grad=surrogate.atan(), init_hidden=False,
                    reset_mechanism="subtract")
    neuron = snn.Leaky(**{**settings, **options})
    instances = SpikingNeuron.instances
    for i in range(len(instances) - 1, -1, -1):  # by identity: modules compare by identity anyway
        if instances[i] is neuron:
            del instances[i]
    return neuron


NEURONS = ("if", "signed-burst")
# snntorch's neuron keeps the membrane on the module while it steps (``self.mem``): one network
# stepping at a time through snntorch, so two threads sharing a model never mix membranes
_SNNTORCH = threading.Lock()


class _Quantize(torch.autograd.Function):
    """floor in the forward pass; snntorch's arctan surrogate of the step function in the backward."""

    @staticmethod
    def forward(ctx, v):
        ctx.save_for_backward(v)
        return torch.floor(v)

    @staticmethod
    def backward(ctx, grad):
        (v,) = ctx.saved_tensors
        frac = v - torch.floor(v) - 1.0  # distance to the next integer step, as snntorch's atan(alpha=2)
        return grad / (1 + (torch.pi * frac) ** 2)


class IFNeurons(nn.Module):
    """Integrate-and-fire neurons with per-channel thresholds.

    Args:
        threshold: (C,) positive thresholds, in the units of the input current.
        v0: initial membrane potential, as a fraction of the threshold.
        neuron: ``if`` or ``signed-burst`` (see the module's docstring); ``burst``: the most
            spikes a ``signed-burst`` neuron sends in one step (either sign).
    """

    def __init__(self, threshold: Tensor, v0: float = 0.5, neuron: str = "if", burst: int = 1):
        super().__init__()
        self.neuron = _private_leaky()
        self.register_buffer("threshold", threshold.detach().float().clone())
        self.v0 = float(v0)
        self.kind, self.burst = neuron, int(burst)

    @property
    def channels(self) -> int:
        return int(self.threshold.numel())

    def forward(self, current: Tensor, mem=None) -> Tuple[Tensor, object]:
        """current: (t, B, C, H, W) -> spikes (t, B, C, H, W) (``if``: 0 or 1; ``signed-burst``:
        integers in [-burst, burst], the net spikes of each step) and the state after the window
        (hand it to the next window of the same call; None starts a call)."""
        theta = self.threshold.view(1, -1, *([1] * (current.dim() - 3)))
        u = current / theta
        if self.kind == "signed-burst":
            return self._signed_burst(u, mem)
        if mem is None:
            mem = torch.full_like(u[0], self.v0)
        spikes = []
        with _SNNTORCH:
            try:
                for t in range(u.shape[0]):
                    spk, mem = self.neuron(u[t], mem)
                    spikes.append(spk)
            finally:
                self.neuron.mem = torch.zeros(0)  # nothing of this call stays on the module
        return torch.stack(spikes), mem

    def _signed_burst(self, u: Tensor, mem):
        if mem is None:
            mem = (torch.full_like(u[0], self.v0), torch.zeros_like(u[0]), 0)
        v, count, done = mem
        spikes = []
        for t in range(u.shape[0]):
            v = v + u[t]
            target = _Quantize.apply(v).clamp(0.0, float(done + t + 1))  # at most one spike per step on average
            n = (target - count).clamp(-self.burst, self.burst)
            count = count + n
            spikes.append(n)
        return torch.stack(spikes), (v, count, done + u.shape[0])

    def extra_repr(self) -> str:
        extra = f", burst={self.burst}" if self.kind == "signed-burst" else ""
        return f"channels={self.channels}, v0={self.v0}, neuron={self.kind}{extra}"
