"""What each machine costs: multiply-accumulates of decode-then-classify and of reading the latent.

MACs count convolutions, transposed convolutions, linear layers and GDN's channel mixing (one
MAC per input channel per output element, the ``C x C`` 1x1 convolution GDN runs on ``x^2``);
batch norm, activations and pooling are not MACs. The entropy decoding both machines share
(bytes -> ``y_hat``) is not counted for either.
"""

from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor, nn


def macs(model: nn.Module, *inputs: Tensor) -> float:
    """MACs of one forward pass of ``model`` on ``inputs``, per item of the batch. The pass runs in
    eval mode and changes nothing: hooks removed after, batch norm statistics untouched (a task
    model's ``net`` may be in train mode: its wrapper only switches it at call time)."""
    from hmxai.modes import eval_mode

    total = [0.0]

    def conv(m, inp, out):
        total[0] += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    def transposed(m, inp, out):  # every input element reaches out_channels / groups x k x k outputs
        total[0] += inp[0].numel() * (m.out_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    def linear(m, inp, out):
        total[0] += out.numel() * m.in_features

    def gdn(m, inp, out):
        total[0] += out.numel() * out.shape[1]

    try:
        from compressai.layers import GDN
    except ImportError:  # pragma: no cover - compressai is a dependency
        GDN = ()
    handles = []
    try:
        for m in model.modules():
            if isinstance(m, nn.ConvTranspose2d):
                handles.append(m.register_forward_hook(transposed))
            elif isinstance(m, nn.Conv2d):
                handles.append(m.register_forward_hook(conv))
            elif isinstance(m, nn.Linear):
                handles.append(m.register_forward_hook(linear))
            elif GDN and isinstance(m, GDN):
                handles.append(m.register_forward_hook(gdn))
        with torch.no_grad(), eval_mode(model):
            model(*inputs)
    finally:
        for h in handles:
            h.remove()
    return total[0] / inputs[0].shape[0]


def decoder_macs(codec, image_size: Tuple[int, int]) -> float:
    """MACs of ``codec``'s synthesis transform for an ``image_size`` image (its padded latent)."""
    import math

    m = codec.model
    pad = codec.pad_multiple
    h, w = (math.ceil(s / pad) * pad // 16 for s in image_size)
    return macs(m.g_s, torch.zeros(1, m.M, h, w))


def image_task_macs(task) -> float:
    """MACs of an image task on its 224 x 224 network input."""
    size = task.input_size or 224
    return macs(task.net, torch.zeros(1, 3, size, size))


def latent_task_macs(task, image_size: Tuple[int, int]) -> float:
    """MACs of a latent task for an ``image_size`` image: its front (the codec's synthesis layers it
    runs on the padded latent), the synthesis layers it runs on the crop, and its network (a
    spiking network: the ANN it was converted from)."""
    import math

    from hmxai.latent.model import CROP, STRIDE

    h, w = (math.ceil(s / 64) * 64 // STRIDE for s in image_size)
    front = macs(task.front, torch.zeros(1, task.channels, h, w)) if len(task.front) else 0.0
    return front + synthesis_macs(task) + network_macs(task)


def synthesis_macs(task) -> float:
    """MACs of the synthesis layers a latent task runs on the crop (0 without them)."""
    from hmxai.latent.model import CROP

    if not len(task.synthesis):
        return 0.0
    side = CROP // task.stride
    return macs(task.synthesis, torch.zeros(1, task.synthesis.layers[0].in_channels, side, side))


def network_macs(task) -> float:
    """MACs of a latent task's network after its front and crop synthesis (on its square input)."""
    from hmxai.latent.model import CROP

    net = task.net
    side = CROP if len(task.synthesis) else CROP // task.stride
    if hasattr(net, "analog"):  # a spiking network: the ANN it was converted from
        from hmxai.spiking.energy import ann_macs

        return float(ann_macs(net, (side, side)))
    return macs(net, torch.zeros(1, net._conv_stem.in_channels, side, side))


def front_macs(task, y_hat: Tensor) -> float:
    """MACs of the synthesis layers a latent task runs on this latent: its front on the whole
    latent and the fine-tuned layers on the crop."""
    return (macs(task.front, y_hat[:1].float()) if len(task.front) else 0.0) + synthesis_macs(task)
