"""The codec contract every hmxai codec follows, learned or classical.

    x (1, 3, H, W) in [0, 1] --compress()--> EncodedImage (real bytes)
    EncodedImage --decompress()--> x_hat (1, 3, H, W) in [0, 1]
    x (B, 3, H, W) --analyze()--> LatentResult   (learned codecs only)

``analyze`` is consistent with the bitstream: its ``y_hat`` and ``x_hat`` are
the ones ``compress``/``decompress`` produce, so estimated and measured bits
describe the same quantized latent.
"""

from __future__ import annotations

import abc
from typing import Any, Dict, Tuple

from torch import Tensor

from hmxai.errors import BitstreamError, InvalidArgumentError, NoLatentError
from hmxai.types import EncodedImage, LatentResult


class Codec(abc.ABC):
    """Base class: a named codec at one quality setting."""

    #: registry name, e.g. ``"jpeg"`` or ``"mbt2018-mean"``.
    name: str = ""
    #: whether :meth:`analyze` exists (a learned latent with an entropy model).
    has_latent: bool = False
    #: image sides are padded to a multiple of this before coding.
    pad_multiple: int = 1
    #: inclusive range of the quality knob; higher is always better quality.
    quality_range: Tuple[int, int] = (1, 100)

    #: whether fractional qualities are valid (a variable-rate codec's continuous knob).
    continuous: bool = False

    def __init__(self, quality: int):
        self.quality = self.check_quality(quality)

    def check_quality(self, quality):
        """The quality as stored, or ValueError; integer codecs take integers in ``quality_range``."""
        lo, hi = self.quality_range
        if not isinstance(quality, int) or isinstance(quality, bool) or not lo <= quality <= hi:
            raise InvalidArgumentError(
                f"{self.name}: quality must be an integer in {lo}..{hi}, got {quality!r}"
            )
        return quality

    @abc.abstractmethod
    def compress(self, x: Tensor) -> EncodedImage:
        """Encode one image ``x: (1, 3, H, W) float in [0, 1]`` to real bytes."""

    @abc.abstractmethod
    def decompress(self, encoded: EncodedImage) -> Tensor:
        """Decode to ``(1, 3, H, W) float in [0, 1]``; raises BitstreamError on bad data."""

    def roundtrip(self, x: Tensor) -> Tuple[EncodedImage, Tensor, float, float]:
        """Compress to bytes and decode them: (encoded, x_hat, encode seconds, decode seconds)."""
        import time

        t0 = time.perf_counter()
        encoded = self.compress(x)
        t1 = time.perf_counter()
        x_hat = self.decompress(encoded)
        return encoded, x_hat, t1 - t0, time.perf_counter() - t1

    def analyze(self, x: Tensor) -> LatentResult:
        """Latent, likelihoods and decoded image; only learned codecs have them."""
        raise NoLatentError(
            f"{self.name} is a classical codec: it has no learned latent, so latent-channel "
            "bits and attributions do not exist for it; use a learned codec "
            "(hmxai.list_codecs(learned=True))"
        )

    def describe(self) -> Dict[str, Any]:
        """Facts for reports and ``hmxai info``."""
        return {
            "codec": self.name,
            "quality": self.quality,
            "learned": self.has_latent,
            "quality_range": list(self.quality_range),
        }

    def _check_encoded(self, encoded: EncodedImage) -> None:
        if not isinstance(encoded, EncodedImage):
            raise BitstreamError(
                f"expected an EncodedImage, got {type(encoded).__name__}; "
                "read files with hmxai.read_compressed()"
            )
        if encoded.codec != self.name:
            raise BitstreamError(
                f"this stream was written by {encoded.codec!r}, not {self.name!r}; "
                "use hmxai.codec_for(encoded) to get the codec that wrote it"
            )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, quality={self.quality})"
