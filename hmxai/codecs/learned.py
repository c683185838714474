"""Learned codecs: an adapter around CompressAI models (the only place that reads their dicts).

Four families share CompressAI's sub-module names (``g_a``, ``g_s``, ``h_a``,
``h_s``, ``entropy_bottleneck``, ``gaussian_conditional``)::

    factorized       x -g_a-> y -EB-> y_hat -g_s-> x_hat                   (Balle 2018, no hyperprior)
    scale            y -h_a(|y|)-> z -EB-> z_hat -h_s-> scales              (Balle 2018 hyperprior)
    mean-scale       y -h_a-> z -EB-> z_hat -h_s-> scales, means            (Minnen 2018 mean)
    autoregressive   mean-scale + masked-conv context on y_hat              (Minnen 2018, Cheng 2020)

:meth:`LearnedCodec.analyze` computes the quantized latent exactly as the
entropy coder does (for autoregressive models, sequentially, position by
position, mirroring CompressAI's ``_compress_ar``), so its ``y_hat`` equals
the latent that :meth:`LearnedCodec.decompress` recovers from the bytes.
"""

from __future__ import annotations

import hashlib
from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hmxai.codecs.base import Codec
from hmxai.errors import BitstreamError, InvalidArgumentError, InvalidTypeError
from hmxai.images import check_batch, crop_to, pad_to_multiple
from hmxai.types import EncodedImage, LatentResult

_AR_KERNEL = 5
_AR_PAD = (_AR_KERNEL - 1) // 2
_Z_TO_Y = 4  # hyper-latent grid is 4x coarser than the latent grid


def model_family(model: nn.Module) -> str:
    """One of ``factorized``, ``scale``, ``mean-scale``, ``autoregressive``."""
    from compressai.models import (
        FactorizedPrior,
        JointAutoregressiveHierarchicalPriors,
        MeanScaleHyperprior,
        ScaleHyperprior,
    )

    # subclasses first: JointAutoregressive < MeanScale < Scale
    if isinstance(model, JointAutoregressiveHierarchicalPriors):
        return "autoregressive"
    if isinstance(model, MeanScaleHyperprior):
        return "mean-scale"
    if isinstance(model, ScaleHyperprior):
        return "scale"
    if isinstance(model, FactorizedPrior):
        return "factorized"
    raise InvalidTypeError(f"unsupported CompressAI model {type(model).__name__}")


class LearnedCodec(Codec):
    """A CompressAI model at one quality, on the CPU, in eval mode.

    Args:
        model: a CompressAI ``CompressionModel`` (its CDF tables are rebuilt
            with ``update(force=True)`` here, so real bitstreams work at once).
        name: registry name.
        quality: quality index (the model's own rate point).
        quality_range: valid qualities of this architecture.
        metric: distortion the weights were trained for (``mse``/``ms-ssim``).
        weights: where the weights came from (``random-init``,
            ``compressai-pretrained``, ``checkpoint:<path>``, ...).
    """

    has_latent = True

    def __init__(
        self,
        model: nn.Module,
        name: str,
        quality: int,
        quality_range: Tuple[int, int] = (1, 8),
        metric: str = "mse",
        weights: str = "random-init",
    ):
        self.name = name
        self.quality_range = quality_range
        super().__init__(quality)
        self.model = model.eval()
        self.family = model_family(model)
        self.metric = metric
        self.weights = weights
        self.pad_multiple = int(getattr(model, "downsampling_factor", 64))
        self.model.update(force=True)

    @property
    def weights_id(self) -> str:
        """Short SHA-256 of the current parameters: files record it so decoding checks the weights.

        Recomputed whenever a tensor changed since the last call (each tensor's in-place version
        counter and storage are checked), so fine-tuning the model in place never leaves a stale id.
        """
        tensors = sorted((k, v) for k, v in self.model.state_dict(keep_vars=True).items()
                         if not k.endswith(("_quantized_cdf", "_offset", "_cdf_length")))  # derived by update()
        stamp = tuple((k, v.data_ptr(), v._version) for k, v in tensors)
        if getattr(self, "_weights_stamp", None) != stamp:
            digest = hashlib.sha256()
            for key, value in tensors:
                digest.update(key.encode())
                digest.update(value.detach().cpu().contiguous().numpy().tobytes())
            self._weights_id, self._weights_stamp = digest.hexdigest()[:16], stamp
        return self._weights_id

    # ------------------------------------------------------------------ analysis
    @torch.no_grad()
    def analyze(self, x: Tensor) -> LatentResult:
        """Latent, likelihoods and decoded image of ``x: (B, 3, H, W)`` in [0, 1]."""
        check_batch(x)
        xp, size = pad_to_multiple(x.float(), self.pad_multiple)
        m = self.model
        y = m.g_a(xp)
        z = z_hat = z_lik = scales = means = None
        if self.family == "factorized":
            y_hat, y_lik = m.entropy_bottleneck(y, training=False)
        else:
            z = m.h_a(torch.abs(y) if self.family == "scale" else y)
            z_hat, z_lik = m.entropy_bottleneck(z, training=False)
            params = m.h_s(z_hat)
            if self.family == "scale":
                scales = params
            elif self.family == "mean-scale":
                scales, means = params.chunk(2, 1)
            else:
                y_hat, scales, means = self._ar_quantize(y, params)
            y_hat, y_lik = m.gaussian_conditional(y, scales, means=means, training=False)
        x_hat = crop_to(m.g_s(y_hat).clamp_(0, 1), size)
        return LatentResult(
            codec=self.name,
            quality=self.quality,
            x_hat=x_hat,
            y=y,
            y_hat=y_hat,
            y_likelihoods=y_lik,
            image_size=size,
            padded_size=tuple(xp.shape[-2:]),
            z=z,
            z_hat=z_hat,
            z_likelihoods=z_lik,
            means=means,
            scales=scales,
        )

    def _ar_quantize(self, y: Tensor, params: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Sequential context-model pass, op for op as CompressAI's encoder does it.

        Returns y_hat, scales, means, each (B, M, h, w).
        """
        m = self.model
        gc = m.gaussian_conditional
        b, _, h, w = y.shape
        scales, means = torch.empty_like(y), torch.empty_like(y)
        y_pad = F.pad(y, (_AR_PAD,) * 4)
        weight = m.context_prediction.weight * m.context_prediction.mask
        for i in range(b):  # one image at a time, as compress() runs
            yi = y_pad[i : i + 1]
            for r in range(h):
                for c in range(w):
                    crop = yi[:, :, r : r + _AR_KERNEL, c : c + _AR_KERNEL]
                    ctx = F.conv2d(crop, weight, bias=m.context_prediction.bias)
                    p = params[i : i + 1, :, r : r + 1, c : c + 1]
                    gp = m.entropy_parameters(torch.cat((p, ctx), dim=1)).squeeze(3).squeeze(2)
                    s, mu = gp.chunk(2, 1)
                    q = gc.quantize(crop[:, :, _AR_PAD, _AR_PAD], "symbols", mu)
                    yi[:, :, r + _AR_PAD, c + _AR_PAD] = q + mu
                    scales[i, :, r, c] = s[0]
                    means[i, :, r, c] = mu[0]
        y_hat = y_pad[:, :, _AR_PAD:-_AR_PAD, _AR_PAD:-_AR_PAD]
        return y_hat, scales, means

    # ------------------------------------------------------------------ bitstream
    @torch.no_grad()
    def compress(self, x: Tensor) -> EncodedImage:
        check_batch(x)
        if x.shape[0] != 1:
            raise InvalidArgumentError("compress() codes one image: x must be (1, 3, H, W)")
        xp, size = pad_to_multiple(x.float(), self.pad_multiple)
        out = self._model_compress(xp)
        strings: List[bytes] = [s[0] for s in out["strings"]]  # batch of one
        params = {
            "weights": self.weights,
            "weights_id": self.weights_id,
            "lengths": [len(s) for s in strings],
            "shape": [int(v) for v in out["shape"]],
            "padded": [int(v) for v in xp.shape[-2:]],
            "metric": self.metric,
        }
        return EncodedImage(self.name, self.quality, size, b"".join(strings), params)

    def _model_compress(self, xp: Tensor) -> dict:
        """CompressAI's encoder on the padded image: ``{"strings", "shape"}``."""
        return self.model.compress(xp)

    def _split(self, encoded: EncodedImage) -> Tuple[List[bytes], Tuple[int, int], Tuple[int, int]]:
        p = encoded.params
        try:
            lengths = [int(v) for v in p["lengths"]]
            shape = (int(p["shape"][0]), int(p["shape"][1]))
            padded = (int(p["padded"][0]), int(p["padded"][1]))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise BitstreamError(f"{self.name}: malformed stream parameters {p!r}") from exc
        expected_parts = 1 if self.family == "factorized" else 2
        if len(lengths) != expected_parts or any(n < 0 for n in lengths):
            raise BitstreamError(f"{self.name}: expected {expected_parts} strings, got {lengths}")
        if sum(lengths) != len(encoded.payload):
            raise BitstreamError(
                f"{self.name}: payload holds {len(encoded.payload)} bytes but the header "
                f"announces {sum(lengths)} (truncated or corrupted)"
            )
        h, w = encoded.image_size
        f = self.pad_multiple
        if padded != (-(-h // f) * f, -(-w // f) * f):
            raise BitstreamError(f"{self.name}: padded size {padded} does not fit image {h}x{w}")
        grid = 16 if self.family == "factorized" else 64
        if shape != (padded[0] // grid, padded[1] // grid):
            raise BitstreamError(f"{self.name}: latent shape {shape} does not fit image {h}x{w}")
        strings, start = [], 0
        for n in lengths:
            strings.append(encoded.payload[start : start + n])
            start += n
        return strings, shape, padded

    @torch.no_grad()
    def read_latent(self, encoded: EncodedImage) -> Tensor:
        """Entropy-decode the bytes to ``y_hat (1, M, h, w)`` alone: no synthesis transform runs
        (what a machine that reads the latent needs). Equal to :meth:`decode_latent`'s ``y_hat``."""
        self._check_encoded(encoded)
        strings, shape, _ = self._split(encoded)
        self._check_weights(encoded)
        m = self.model
        try:
            if self.family == "factorized":
                return m.entropy_bottleneck.decompress([strings[0]], shape)
            z_hat = m.entropy_bottleneck.decompress([strings[1]], shape)
            params = m.h_s(z_hat)
            if self.family == "autoregressive":
                return self._ar_decode(strings[0], z_hat, params)
            means = None
            scales = params
            if self.family == "mean-scale":
                scales, means = params.chunk(2, 1)
            indexes = m.gaussian_conditional.build_indexes(scales)
            return m.gaussian_conditional.decompress([strings[0]], indexes, z_hat.dtype, means)
        except (RuntimeError, ValueError, IndexError) as exc:
            raise BitstreamError(f"{self.name}: the bitstream could not be decoded: {exc}") from exc

    @torch.no_grad()
    def decode_latent(self, encoded: EncodedImage) -> Tuple[Tensor, Tensor]:
        """Decode the bytes to ``(y_hat, x_hat)``; x_hat cropped to the image size."""
        y_hat = self.read_latent(encoded)
        try:
            x_hat = crop_to(self.model.g_s(y_hat).clamp_(0, 1), encoded.image_size)
        except (RuntimeError, ValueError, IndexError) as exc:
            raise BitstreamError(f"{self.name}: the bitstream could not be decoded: {exc}") from exc
        return y_hat, x_hat

    def _check_weights(self, encoded: EncodedImage) -> None:
        written_with = encoded.params.get("weights_id")
        if written_with is not None and written_with != self.weights_id:
            raise BitstreamError(
                f"{self.name}: this file was written with other weights "
                f"({encoded.params.get('weights')!r}, id {written_with}) than this codec has "
                f"({self.weights!r}, id {self.weights_id}); load the same weights "
                "(pretrained=True or checkpoint=PATH) to decode it"
            )

    def _ar_decode(self, string: bytes, z_hat: Tensor, params: Tensor) -> Tensor:
        m = self.model
        h, w = z_hat.shape[2] * _Z_TO_Y, z_hat.shape[3] * _Z_TO_Y
        y_hat = torch.zeros((1, m.M, h + 2 * _AR_PAD, w + 2 * _AR_PAD), dtype=z_hat.dtype)
        m._decompress_ar(string, y_hat, params, h, w, _AR_KERNEL, _AR_PAD)
        return y_hat[:, :, _AR_PAD:-_AR_PAD, _AR_PAD:-_AR_PAD]

    def decompress(self, encoded: EncodedImage) -> Tensor:
        return self.decode_latent(encoded)[1]

    def latent_indexes(self, latent: LatentResult) -> Tensor:
        """The Gaussian conditional's CDF indexes of ``latent`` (for :meth:`compress_latent`)."""
        return self.model.gaussian_conditional.build_indexes(latent.scales)

    @torch.no_grad()
    def compress_latent(self, y_hat: Tensor, latent: LatentResult, reference: EncodedImage,
                        indexes: Optional[Tensor] = None) -> EncodedImage:
        """Real bytes of another quantized latent under ``latent``'s entropy model.

        ``y_hat: (1, M, h, w)`` must lie on the quantization grid of ``latent`` (e.g. its
        ``y_hat`` with some channels set to their most probable value, as the explorer's
        channel budget does: each such element then costs one cheap symbol). The side
        information is ``reference``'s (the stream :meth:`compress` wrote for the same image),
        so :meth:`decompress` reads the result and decodes exactly ``y_hat``.
        Autoregressive models are refused: their context would change with ``y_hat``.
        ``indexes``: the Gaussian conditional's ``build_indexes(latent.scales)``, if already made.
        """
        if self.family == "autoregressive":
            raise InvalidArgumentError(f"{self.name}: an autoregressive context model cannot re-code a changed latent "
                             "without re-running its context; use a factorized, scale or mean-scale codec")
        self._check_encoded(reference)
        strings, _, _ = self._split(reference)
        if y_hat.shape != latent.y_hat.shape or y_hat.shape[0] != 1:
            raise InvalidArgumentError(f"y_hat must be shaped like the latent {tuple(latent.y_hat.shape)}, "
                             f"got {tuple(y_hat.shape)}")
        m = self.model
        if self.family == "factorized":
            strings = [m.entropy_bottleneck.compress(y_hat)[0]]
        else:
            if indexes is None:
                indexes = m.gaussian_conditional.build_indexes(latent.scales)
            strings = [m.gaussian_conditional.compress(y_hat, indexes, means=latent.means)[0], strings[1]]
        params = dict(reference.params, lengths=[len(s) for s in strings])
        return EncodedImage(self.name, self.quality, reference.image_size, b"".join(strings), params)

    def describe(self) -> Dict[str, Any]:
        d = super().describe()
        d.update(
            family=self.family,
            metric=self.metric,
            weights=self.weights,
            parameters=sum(p.numel() for p in self.model.parameters()),
            latent_channels=int(getattr(self.model, "M", 0)) or None,
            pad_multiple=self.pad_multiple,
        )
        return d

