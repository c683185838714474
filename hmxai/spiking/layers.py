"""The linear layers of a converted network: convolutions with batch norm folded in, run over time.

Tensors that carry time have shape ``(t, B, C, H, W)``; a linear layer runs on all ``t * B``
images at once (time folded into the batch), which is exact because it has no state.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class FoldedConv(nn.Module):
    """A convolution with the batch norm after it folded in: ``bn(conv(x))`` as one ``conv(x) + b``.

    Takes a plain ``nn.Conv2d`` or an EfficientNet-PyTorch "same"-padding convolution (its fixed
    ``static_padding`` is kept in front, so borders are exactly the ANN's).
    """

    def __init__(self, conv: nn.Conv2d, bn: nn.BatchNorm2d):
        super().__init__()
        pad = getattr(conv, "static_padding", None)
        self.pad = nn.Identity() if pad is None or not isinstance(pad, nn.ZeroPad2d) else nn.ZeroPad2d(pad.padding)
        scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
        bias = conv.bias.detach() if conv.bias is not None else torch.zeros_like(scale)
        self.conv = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                              conv.dilation, conv.groups, bias=True)
        with torch.no_grad():
            self.conv.weight.copy_(conv.weight.detach() * scale.view(-1, 1, 1, 1))
            self.conv.bias.copy_((bias - bn.running_mean) * scale + bn.bias.detach())
        self.conv.requires_grad_(False)

    def forward(self, x: Tensor) -> Tensor:
        """x: (N, C, H, W) -> (N, C', H', W')."""
        return self.conv(self.pad(x))

    def without_bias(self, x: Tensor) -> Tensor:
        """The same convolution with no bias (for counting and for currents that must not repeat it)."""
        c = self.conv
        return F.conv2d(self.pad(x), c.weight, None, c.stride, c.padding, c.dilation, c.groups)

    def fan_in_count(self, x: Tensor) -> Tensor:
        """For each image of ``x: (N, C, H, W)`` (spike counts), the synaptic operations they cause:
        every spike times the number of output neurons it reaches (exact at borders and strides).
        Returns (N,) float64."""
        c = self.conv
        ones = torch.ones_like(c.weight)
        return F.conv2d(self.pad(x), ones, None, c.stride, c.padding, c.dilation, c.groups).double().sum(dim=(1, 2, 3))

    def macs_per_image(self, in_size) -> int:
        """Multiply-accumulates of one image through this convolution (bias not counted)."""
        c = self.conv
        h, w = in_size
        pad = self.pad.padding if isinstance(self.pad, nn.ZeroPad2d) else (0, 0, 0, 0)
        h, w = h + pad[2] + pad[3] + 2 * c.padding[0], w + pad[0] + pad[1] + 2 * c.padding[1]
        oh = (h - c.dilation[0] * (c.kernel_size[0] - 1) - 1) // c.stride[0] + 1
        ow = (w - c.dilation[1] * (c.kernel_size[1] - 1) - 1) // c.stride[1] + 1
        per_output = (c.in_channels // c.groups) * c.kernel_size[0] * c.kernel_size[1]
        return int(oh * ow * c.out_channels * per_output)


def over_time(layer: nn.Module, x: Tensor) -> Tensor:
    """Apply a stateless ``layer`` to ``x: (t, B, ...)`` with time folded into the batch."""
    t, b = x.shape[:2]
    y = layer(x.reshape(t * b, *x.shape[2:]))
    return y.reshape(t, b, *y.shape[1:])
