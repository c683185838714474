"""Spiking task models: EfficientNet-Lite0 converted to integrate-and-fire neurons (snntorch),
energy accounting, and bits versus spikes.

* :mod:`~hmxai.spiking.neurons`: IF neurons (snntorch's ``Leaky`` with ``beta = 1``; signed burst);
* :mod:`~hmxai.spiking.layers`: convolutions with batch norm folded, run over time;
* :mod:`~hmxai.spiking.network`: the converted network;
* :mod:`~hmxai.spiking.calibrate`: thresholds from the ANN's activations, the shipped file;
* :mod:`~hmxai.spiking.energy`: spikes, synaptic operations, MACs and joules;
* :mod:`~hmxai.spiking.zoo`: the ``efficientnet-lite0-snn`` task.
"""
