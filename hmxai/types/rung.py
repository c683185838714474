"""One rung: an image under one codec at one quality, computed once and consumed by every feature.

``image --compress--> EncodedImage (real bytes) --decompress--> x_hat --> Metrics, Prediction``;
learned codecs add the :class:`~hmxai.types.pipeline.LatentResult` their bytes carry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from torch import Tensor

from hmxai.types.pipeline import EncodedImage, LatentResult, Prediction


def _finite(v):
    return None if isinstance(v, float) and not math.isfinite(v) else v


@dataclass(frozen=True)
class Metrics:
    """What a person sees of a decoded image, and its two rates (always separate fields).

    ``measured_bpp``: the bitstream's bytes per pixel of the original; ``estimated_bpp``: the
    entropy model's estimate (None for classical codecs); ``psnr`` in dB (+inf when lossless);
    ``ms_ssim`` in [0, 1].
    """

    measured_bpp: float
    estimated_bpp: Optional[float]
    psnr: float
    ms_ssim: float

    def to_dict(self) -> dict:
        return {k: _finite(v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Rung:
    """One image under one codec at one quality (see :func:`hmxai.decode`).

    Attributes:
        codec, quality: the codec's registry name and quality (a float for a variable-rate codec).
        weights, weights_id: where the codec's weights came from and their hash (None: classical).
        encoded: the real bytes.
        x_hat: (1, 3, H, W) float in [0, 1], decoded from ``encoded``.
        latent: what the bytes carry (learned codecs), else None.
        metrics: PSNR, MS-SSIM, measured and estimated bpp.
        prediction: the task's top-5 on ``x_hat`` (None when no task was given).
        encode_seconds, decode_seconds: wall time of compress and decompress.
    """

    codec: str
    quality: float
    weights: Optional[str]
    weights_id: Optional[str]
    encoded: EncodedImage
    x_hat: Tensor
    latent: Optional[LatentResult]
    metrics: Metrics
    prediction: Optional[Prediction] = None
    encode_seconds: float = float("nan")
    decode_seconds: float = float("nan")

    @property
    def image_size(self):
        return self.encoded.image_size

    def to_dict(self) -> dict:
        """JSON-ready: everything but the tensors (the bytes as their count)."""
        p = self.prediction
        return {
            "codec": self.codec, "quality": self.quality, "weights": self.weights, "weights_id": self.weights_id,
            "image_size": list(self.image_size), "payload_bytes": len(self.encoded.payload),
            "file_bytes": self.encoded.file_bytes, **self.metrics.to_dict(),
            "prediction": None if p is None else {k: list(v) for k, v in p.__dict__.items()},
            "encode_seconds": self.encode_seconds, "decode_seconds": self.decode_seconds,
        }
