"""The variable-rate codec: one :class:`VariableRateMSH` at any quality in ``[1, L]``, fractions too.

Everything goes through one dequantization (:func:`dequantize`), so the latent that
:meth:`VariableRateCodec.analyze` reports is, bit for bit, the one
:meth:`VariableRateCodec.decode_latent` recovers from the bytes::

    symbols = round((y - means) * gain)                    (entropy coded with scales * gain)
    y_hat   = sign(symbols) * (|symbols| + offset) / gain + means,  offset = 0 where symbols = 0

``LatentResult.means`` and ``.scales`` are in the latent's own units (not multiplied by the
gain): a symbol of 0 decodes to ``means`` exactly, the most probable value.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import torch
from torch import Tensor

from hmxai.codecs.learned import LearnedCodec
from hmxai.codecs.vbr_model import QualityScale, VariableRateMSH
from hmxai.errors import BitstreamError, InvalidArgumentError
from hmxai.images import check_batch, crop_to, pad_to_multiple
from hmxai.types import EncodedImage, LatentResult


def dequantize(model: VariableRateMSH, symbols: Tensor, scales: Tensor, means: Tensor, gain: Tensor) -> Tensor:
    """``y_hat`` of integer-valued ``symbols`` (B, M, h, w) with CompressAI's learned offsets."""
    q_abs, signs = symbols.abs(), torch.sign(symbols)
    stdev = model.gaussian_conditional.lower_bound_scale(scales * gain)
    feats = torch.stack((stdev, gain.expand(stdev.shape)), dim=4)
    offsets = -model.QuantABCD(feats).squeeze(4)
    offsets = torch.where(q_abs < 1e-4, torch.zeros_like(offsets), offsets)
    rescale = torch.tensor(1.0) / gain  # CompressAI's operations, in its order: the same bits
    return signs * (q_abs + offsets) * rescale + means


def symbols_of(model: VariableRateMSH, y_hat: Tensor, scales: Tensor, means: Tensor, gain: Tensor) -> Tensor:
    """The integer symbols whose :func:`dequantize` is ``y_hat``: the learned offset (a function of the
    scale and the gain alone) is taken off before rounding, so any offset size inverts exactly."""
    v = (y_hat - means) * gain
    stdev = model.gaussian_conditional.lower_bound_scale(scales * gain)
    offsets = -model.QuantABCD(torch.stack((stdev, gain.expand(stdev.shape)), dim=4)).squeeze(4)
    same = torch.round(v.abs() - offsets).clamp(min=1)  # |s| if |s| + offset > 0 (the sign kept)
    flipped = torch.round(-v.abs() - offsets).clamp(min=1)  # |s| if an offset below -1 flipped the sign
    keep = (same + offsets - v.abs()).abs() <= (-(flipped + offsets) - v.abs()).abs()  # the one that fits
    symbols = torch.where(keep, torch.sign(v) * same, -torch.sign(v) * flipped)
    return torch.where(y_hat == means, torch.zeros_like(symbols), symbols)  # symbol 0 decodes to the mean exactly


class VariableRateCodec(LearnedCodec):
    """A variable-rate model at one (possibly fractional) quality.

    Args:
        model: a :class:`VariableRateMSH`.
        name, weights: as for :class:`LearnedCodec`.
        quality: a float in ``[1, L]`` (``L`` = the model's number of named points).
    """

    continuous = True

    def __init__(self, model: VariableRateMSH, name: str, quality, weights: str = "random-init"):
        self.scale: QualityScale = model.scale
        super().__init__(model, name, quality, (1, model.scale.levels), "mse", weights)
        self.family = "mean-scale-vbr"

    def at(self, quality) -> "VariableRateCodec":
        """The same model at another quality (shared weights, nothing rebuilt)."""
        import copy

        other = copy.copy(self)
        other.quality = self.check_quality(quality)
        return other

    def check_quality(self, quality):
        q = self.scale.check(quality)
        return int(q) if float(q).is_integer() else q

    @property
    def gain(self) -> Tensor:
        return torch.tensor(self.scale.gain(self.quality), dtype=torch.float32)

    @property
    def lmbda(self) -> float:
        return self.scale.lmbda(self.quality)

    # ------------------------------------------------------------------ analysis
    def _hyper(self, y: Tensor):
        m = self.model
        z = m.h_a(y)
        z_hat, z_lik = m.entropy_bottleneck(z, training=False)
        scales, means = m.h_s(z_hat).chunk(2, 1)
        return z, z_hat, z_lik, scales, means

    @torch.no_grad()
    def analyze(self, x: Tensor) -> LatentResult:
        """Latent, likelihoods and decoded image of ``x: (B, 3, H, W)`` in [0, 1] at this quality."""
        check_batch(x)
        xp, size = pad_to_multiple(x.float(), self.pad_multiple)
        m, g = self.model, self.gain
        y = m.g_a(xp)
        z, z_hat, z_lik, scales, means = self._hyper(y)
        symbols = m.gaussian_conditional.quantize(y * g, "symbols", means * g).float()
        _, y_lik = m.gaussian_conditional(symbols, scales * g, means=None, training=False)
        y_hat = dequantize(m, symbols, scales, means, g)
        x_hat = crop_to(m.g_s(y_hat).clamp_(0, 1), size)
        return LatentResult(codec=self.name, quality=self.quality, x_hat=x_hat, y=y, y_hat=y_hat,
                            y_likelihoods=y_lik, image_size=size, padded_size=tuple(xp.shape[-2:]),
                            z=z, z_hat=z_hat, z_likelihoods=z_lik, means=means, scales=scales)

    # ------------------------------------------------------------------ bitstream
    def _model_compress(self, xp: Tensor) -> dict:
        return self.model.compress(xp, stage=2, inputscale=self.gain)  # CompressAI's vbr encoder at this gain

    @torch.no_grad()
    def read_latent(self, encoded: EncodedImage) -> Tensor:
        """Entropy-decode the bytes to ``y_hat (1, M, h, w)`` alone, with no synthesis transform
        (what a machine that reads the latent needs); equal to :meth:`decode_latent`'s ``y_hat``."""
        self._check_encoded(encoded)
        strings, shape, _ = self._split(encoded)
        self._check_weights(encoded)
        if encoded.quality != self.quality:
            raise BitstreamError(f"{self.name}: this stream was written at quality {encoded.quality}, "
                                 f"this codec is at {self.quality}; use hmxai.codec_for(encoded)")
        m, g = self.model, self.gain
        try:
            z_hat = m.entropy_bottleneck.decompress([strings[1]], shape)
            scales, means = m.h_s(z_hat).chunk(2, 1)
            indexes = m.gaussian_conditional.build_indexes(scales * g)
            symbols = m.gaussian_conditional.decompress([strings[0]], indexes, z_hat.dtype)
            return dequantize(m, symbols, scales, means, g)
        except (RuntimeError, ValueError, IndexError) as exc:
            raise BitstreamError(f"{self.name}: the bitstream could not be decoded: {exc}") from exc

    def latent_indexes(self, latent: LatentResult) -> Tensor:
        return self.model.gaussian_conditional.build_indexes(latent.scales * self.gain)

    @torch.no_grad()
    def compress_latent(self, y_hat: Tensor, latent: LatentResult, reference: EncodedImage,
                        indexes: Optional[Tensor] = None) -> EncodedImage:
        """Real bytes of another latent on this quality's grid (e.g. some channels set to their
        means, symbol 0); the side information is ``reference``'s. See :meth:`LearnedCodec.compress_latent`."""
        self._check_encoded(reference)
        strings, _, _ = self._split(reference)
        if y_hat.shape != latent.y_hat.shape or y_hat.shape[0] != 1:
            raise InvalidArgumentError(f"y_hat must be shaped like the latent {tuple(latent.y_hat.shape)}, "
                             f"got {tuple(y_hat.shape)}")
        m, g = self.model, self.gain
        symbols = symbols_of(m, y_hat, latent.scales, latent.means, g)
        if not torch.allclose(dequantize(m, symbols, latent.scales, latent.means, g), y_hat, atol=1e-4, rtol=0):
            raise InvalidArgumentError(f"{self.name}: y_hat is not on the quantization grid of quality {self.quality}")
        if indexes is None:
            indexes = self.latent_indexes(latent)
        strings = [m.gaussian_conditional.compress(symbols, indexes)[0], strings[1]]
        params = dict(reference.params, lengths=[len(s) for s in strings])
        return EncodedImage(self.name, self.quality, reference.image_size, b"".join(strings), params)

    def describe(self) -> Dict[str, Any]:
        d = super().describe()
        d.update(continuous=True, named_qualities=list(range(1, self.scale.levels + 1)),
                 lambdas=list(self.scale.lambdas), lmbda=self.lmbda, gain=float(self.gain))
        return d
