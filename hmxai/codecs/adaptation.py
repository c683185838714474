"""The machine-oriented adaptation of a frozen human codec: a light residual module on the latent.

Appended to the analysis transform (``g_a``'s last layer), it maps the human codec's latent
``y`` to ``y + B(relu(A(y)))`` before quantization. Nothing else changes: the entropy model, the
synthesis and the bitstream format are the human codec's, so the human decoder decodes its bytes.
``B`` starts at zero, so an untrained adapter is the identity (the human codec, bit for bit).
"""

from __future__ import annotations

from torch import Tensor, nn

#: the key prefix of an adapter inside a variable-rate model's state dict (g_a's layer 7)
ADAPTER_PREFIX = "g_a.7."


class LatentAdapter(nn.Module):
    """``y -> y + B(relu(A(y)))``, 3x3 convolutions M -> hidden -> M, ``B`` zero-initialized."""

    def __init__(self, channels: int, hidden: int = 64):
        super().__init__()
        self.inner = nn.Sequential(nn.Conv2d(channels, hidden, 3, padding=1), nn.ReLU(inplace=True),
                                   nn.Conv2d(hidden, channels, 3, padding=1))
        nn.init.zeros_(self.inner[2].weight)
        nn.init.zeros_(self.inner[2].bias)

    @property
    def hidden(self) -> int:
        return self.inner[0].out_channels

    def forward(self, y: Tensor) -> Tensor:
        return y + self.inner(y)


def adapter_hidden(state_dict) -> int:
    """The hidden width of the adapter in ``state_dict`` (0: none)."""
    key = ADAPTER_PREFIX + "inner.0.weight"
    return int(state_dict[key].size(0)) if key in state_dict else 0
