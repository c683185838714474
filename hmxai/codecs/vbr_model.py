"""hmxai's variable-rate mean-scale hyperprior: one set of weights, a continuous quality knob.

Built on CompressAI's ``MeanScaleHyperpriorVbr`` (Kamisli, Racapé, Choi, DCC 2024): the
latent is scaled by a quantization gain before rounding, the entropy model's scales and
means by the same gain, and a small network (``QuantABCD``) adds a reconstruction offset
to every non-zero symbol. Rate moves with the gain alone::

    x -g_a-> y -h_a-> z -EB-> z_hat -h_s-> (scales, means)
    y -> round((y - means) * gain) -> symbols (entropy coded with scales * gain)
    symbols -> sign * (|s| + offset(scales * gain, gain)) / gain + means = y_hat -g_s-> x_hat

Quality ``q`` is a float in ``[1, L]``; the ``L`` named integer points are the
training lambdas (low to high). Between them lambda is interpolated
log-linearly, and the gain follows ``gain(q) = sqrt(lambda(q) / lambda_max)``,
the rule CompressAI's own gain table follows (gain 1 at the highest lambda).
Training draws ``q`` uniformly over the whole range, so every fractional
quality is a trained operating point, not an interpolation of two models.
"""

from __future__ import annotations

import math
import warnings
from typing import Sequence

import torch
from torch import Tensor

from hmxai.errors import InvalidArgumentError

with warnings.catch_warnings():  # compressai's import warns about torch.jit.script
    warnings.simplefilter("ignore", FutureWarning)
    from compressai.models.vbr import MeanScaleHyperpriorVbr


class RateLadderError(InvalidArgumentError):
    """A quality outside the continuous range, NaN, or not a number."""


class QualityScale:
    """Maps a continuous quality in ``[1, L]`` to its lambda and quantization gain.

    Args:
        lambdas: the named points' lambdas, strictly increasing (quality 1 = lowest rate).
    """

    def __init__(self, lambdas: Sequence[float]):
        lambdas = [float(v) for v in lambdas]
        if len(lambdas) < 2 or any(b <= a for a, b in zip(lambdas, lambdas[1:])) or lambdas[0] <= 0:
            raise InvalidArgumentError(f"lambdas must be positive and strictly increasing, got {lambdas}")
        self.lambdas = tuple(lambdas)
        self.levels = len(lambdas)
        self._log = [math.log(v) for v in lambdas]

    @property
    def range(self):
        return (1.0, float(self.levels))

    def check(self, quality) -> float:
        """``quality`` as a float, or a clear error (NaN, bool, out of range, not a number)."""
        try:
            if isinstance(quality, (bool, str, bytes)) or type(quality).__name__ == "bool_":
                raise TypeError
            if hasattr(quality, "dtype") and (getattr(quality, "ndim", 0) != 0 or "bool" in str(quality.dtype)):
                raise TypeError  # arrays and boolean scalars of numpy or torch
            q = float(quality)  # ints, floats, numpy scalars, 0-d tensors
        except (TypeError, ValueError, RuntimeError):
            raise RateLadderError(f"quality must be a number in 1..{self.levels}, got {quality!r}") from None
        if math.isnan(q) or not 1.0 <= q <= self.levels:
            raise RateLadderError(f"quality must be a number in 1..{self.levels} (fractions allowed), got {quality!r}")
        return q

    def lmbda(self, quality) -> float:
        """Lambda of a (fractional) quality: log-linear between the named points."""
        q = self.check(quality)
        i = min(int(math.floor(q)), self.levels - 1)  # segment [i, i + 1], 1-based
        t = q - i
        return math.exp((1 - t) * self._log[i - 1] + t * self._log[i])

    def gain(self, quality) -> float:
        """Quantization gain (inverse step) of a quality: sqrt(lambda / lambda_max), 1 at the top."""
        return math.sqrt(self.lmbda(quality) / self.lambdas[-1])


class VariableRateMSH(MeanScaleHyperpriorVbr):
    """CompressAI's ``MeanScaleHyperpriorVbr`` with hmxai's continuous quality scale.

    The one change to CompressAI's class: a gain passed as ``inputscale`` is honoured in
    training mode too (CompressAI's ``_get_scale`` uses its fixed ``Gain`` table while
    training), so training can draw any quality. ``Gain`` holds the named points' gains.
    """

    def __init__(self, N: int = 128, M: int = 128, lambdas: Sequence[float] = (0.0018, 0.0483)):
        super().__init__(N=N, M=M)
        self.scale = QualityScale(lambdas)
        self.lmbda = list(self.scale.lambdas)
        self.levels = self.scale.levels
        gains = [self.scale.gain(q) for q in range(1, self.levels + 1)]
        self.Gain = torch.nn.Parameter(torch.tensor(gains), requires_grad=False)

    def _get_scale(self, stage, s, inputscale):
        if isinstance(inputscale, Tensor):
            return inputscale
        return super()._get_scale(stage, s, inputscale)

    def add_adapter(self, hidden: int = 64) -> "VariableRateMSH":
        """Append a :class:`~hmxai.codecs.adaptation.LatentAdapter` to ``g_a`` (the identity until trained)."""
        from hmxai.codecs.adaptation import LatentAdapter

        if self.adapter is not None:
            raise InvalidArgumentError("this model already has a latent adapter")
        self.g_a.append(LatentAdapter(self.M, hidden))
        return self

    @property
    def adapter(self):
        """The latent adapter appended to ``g_a``, or None (a plain human codec)."""
        from hmxai.codecs.adaptation import LatentAdapter

        return self.g_a[-1] if isinstance(self.g_a[-1], LatentAdapter) else None

    def gain_tensor(self, quality) -> Tensor:
        """The gain of ``quality`` as a 0-d float tensor on the model's device."""
        return torch.tensor(self.scale.gain(quality), dtype=torch.float32, device=self.Gain.device)

    @classmethod
    def from_state_dict(cls, state_dict, lambdas: Sequence[float] = None):  # noqa: D102
        N = state_dict["g_a.0.weight"].size(0)
        M = state_dict["g_a.6.weight"].size(0)
        if lambdas is None:
            raise InvalidArgumentError("VariableRateMSH.from_state_dict needs the lambdas of its quality scale")
        from hmxai.codecs.adaptation import adapter_hidden

        net = cls(N, M, lambdas)
        if adapter_hidden(state_dict):
            net.add_adapter(adapter_hidden(state_dict))
        net.load_state_dict(state_dict)
        return net
