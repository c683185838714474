"""Typed results that cross module boundaries (frozen dataclasses, never string-keyed dicts).

Conventions used throughout hmxai:

* images are ``(B, 3, H, W)`` float tensors in [0, 1];
* latents are ``(B, C, h, w)`` on the codec's latent grid, which covers the
  *padded* image (see :func:`hmxai.images.pad_to_multiple`);
* *estimated* bits come from the entropy model's likelihoods
  (``-log2 p``); *measured* bits come from the bytes of a real bitstream.
  The two are always different fields with different names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple

import torch
from torch import Tensor


def _bits(likelihoods: Tensor) -> Tensor:
    """-log2 of likelihoods, elementwise, in float64 for stable sums."""
    return -torch.log2(likelihoods.double())


@dataclass(frozen=True)
class LatentResult:
    """One analysis pass of a learned codec, consistent with its real bitstream.

    ``y_hat`` is exactly the quantized latent that ``compress()`` encodes and
    ``decompress()`` recovers, and ``x_hat`` is the image decoded from it.

    Attributes:
        codec: registry name of the codec.
        quality: the codec's quality index.
        x_hat: (B, 3, H, W) float in [0, 1], cropped to the input size.
        y: (B, M, h, w) the analysis transform's output before quantization.
        y_hat: (B, M, h, w) the quantized latent carried by the bitstream.
        y_likelihoods: (B, M, h, w) probability of each ``y_hat`` element.
        z, z_hat, z_likelihoods: (B, N, h/4, w/4) hyper-latent, or None for
            models without a hyperprior.
        means: (B, M, h, w) predicted means of ``y`` (mean-scale and
            autoregressive models), the "not transmitted" value; None otherwise.
        scales: (B, M, h, w) predicted scales of ``y``, or None.
        image_size: (H, W) of the input image.
        padded_size: (H', W') the codec saw after padding.
    """

    codec: str
    quality: float  # an int, or a float for a variable-rate codec
    x_hat: Tensor
    y: Tensor
    y_hat: Tensor
    y_likelihoods: Tensor
    image_size: Tuple[int, int]
    padded_size: Tuple[int, int]
    z: Optional[Tensor] = None
    z_hat: Optional[Tensor] = None
    z_likelihoods: Optional[Tensor] = None
    means: Optional[Tensor] = None
    scales: Optional[Tensor] = None

    @property
    def num_pixels(self) -> int:
        """Pixels of the original (unpadded) image; the denominator of bpp."""
        return self.image_size[0] * self.image_size[1]

    @property
    def bits_per_channel(self) -> Tensor:
        """(B, M) estimated bits of each latent channel of ``y`` (float64)."""
        return _bits(self.y_likelihoods).sum(dim=(2, 3))

    @property
    def bits_per_position(self) -> Tensor:
        """(B, h, w) estimated bits of ``y`` at each latent position (float64)."""
        return _bits(self.y_likelihoods).sum(dim=1)

    @property
    def side_bits_per_position(self) -> Optional[Tensor]:
        """(B, h/4, w/4) estimated bits of ``z`` per position, or None."""
        if self.z_likelihoods is None:
            return None
        return _bits(self.z_likelihoods).sum(dim=1)

    @property
    def side_bits(self) -> Tensor:
        """(B,) estimated bits of the side information ``z`` (0 without hyperprior)."""
        if self.z_likelihoods is None:
            return torch.zeros(self.y_hat.shape[0], dtype=torch.float64)
        return _bits(self.z_likelihoods).sum(dim=(1, 2, 3))

    @property
    def latent_bits(self) -> Tensor:
        """(B,) estimated bits of ``y``."""
        return self.bits_per_channel.sum(dim=1)

    @property
    def estimated_bits(self) -> Tensor:
        """(B,) estimated total bits: ``y`` plus side information."""
        return self.latent_bits + self.side_bits

    @property
    def estimated_bpp(self) -> Tensor:
        """(B,) estimated bits per pixel of the original image."""
        return self.estimated_bits / self.num_pixels

    def to_dict(self) -> dict:
        """JSON-ready summary: shapes and the estimated rates (the tensors themselves stay out)."""
        return {"codec": self.codec, "quality": self.quality, "image_size": list(self.image_size),
                "padded_size": list(self.padded_size), "latent_shape": list(self.y_hat.shape),
                "estimated_bpp": self.estimated_bpp.tolist(), "side_bits": self.side_bits.tolist(),
                "bits_per_channel": self.bits_per_channel.tolist()}


@dataclass(frozen=True)
class EncodedImage:
    """A real compressed image: the codec's own bytes plus what decoding needs.

    Attributes:
        codec: registry name of the codec that wrote it.
        quality: quality index used.
        image_size: (H, W) of the original image.
        payload: the codec's bitstream bytes (for classical codecs, the
            complete JPEG/WebP/... file; for learned codecs, the entropy-coded
            strings concatenated).
        params: small decode parameters stored in the hmxai file header
            (for learned codecs: string lengths and the hyper-latent shape;
            the metric the weights were trained for).
    """

    codec: str
    quality: float  # an int, or a float for a variable-rate codec
    image_size: Tuple[int, int]
    payload: bytes
    params: dict = field(default_factory=dict)

    @property
    def num_pixels(self) -> int:
        return self.image_size[0] * self.image_size[1]

    @property
    def measured_bits(self) -> int:
        """Bits of the codec's bitstream (payload only), counted from bytes."""
        return 8 * len(self.payload)

    @property
    def measured_bpp(self) -> float:
        """Measured bits per pixel of the payload."""
        return self.measured_bits / self.num_pixels

    def to_bytes(self) -> bytes:
        """The self-describing hmxai file (header + payload); see :mod:`hmxai.container`."""
        from hmxai.container import write  # the ground floor: no import back into hmxai.types

        return write(self.codec, self.quality, self.image_size, self.params, self.payload)

    @property
    def file_bytes(self) -> int:
        """Size of the complete hmxai file, header included."""
        return len(self.to_bytes())

    @property
    def header_bytes(self) -> int:
        """Bytes the hmxai container adds to the payload."""
        return self.file_bytes - len(self.payload)

    def to_dict(self) -> dict:
        """JSON-ready: everything but the payload's bytes (given by their count)."""
        return {"codec": self.codec, "quality": self.quality, "image_size": list(self.image_size),
                "payload_bytes": len(self.payload), "file_bytes": self.file_bytes,
                "measured_bpp": self.measured_bpp, "params": dict(self.params)}


@dataclass(frozen=True)
class Prediction:
    """Top-k output of a task model on one image."""

    labels: Tuple[str, ...]
    indices: Tuple[int, ...]
    probabilities: Tuple[float, ...]

    @property
    def top1(self) -> int:
        return self.indices[0]

    def to_dict(self) -> dict:
        return {"labels": list(self.labels), "indices": list(self.indices), "probabilities": list(self.probabilities)}


@dataclass(frozen=True)
class PipelineResult:
    """Codec + task on one image: what the human sees and what the machine decides.

    ``estimated_bpp`` is None for classical codecs (they have no entropy
    model to estimate from); ``measured_bpp`` always comes from real bytes.
    """

    image_name: str
    codec: str
    quality: float  # an int, or a float for a variable-rate codec
    task: str
    image_size: Tuple[int, int]
    measured_bpp: float
    file_bytes: int
    estimated_bpp: Optional[float]
    psnr: float
    ms_ssim: float
    original: Prediction
    decoded: Prediction
    top1_agreement: bool
    label: Optional[int] = None
    codec_weights: Optional[str] = None
    task_weights: Optional[str] = None
    encode_seconds: float = float("nan")
    decode_seconds: float = float("nan")
    #: the rung it was built from (bytes, decoded image, latent); not part of ``to_dict``
    rung: Optional[object] = field(default=None, repr=False, compare=False)

    @property
    def correct_original(self) -> Optional[bool]:
        return None if self.label is None else self.original.top1 == self.label

    @property
    def correct_decoded(self) -> Optional[bool]:
        return None if self.label is None else self.decoded.top1 == self.label

    def table(self) -> str:
        """The result as the human-readable table ``hmxai run`` prints."""
        r = self
        h, w = r.image_size
        est = "n/a (classical codec: no entropy model)" if r.estimated_bpp is None else f"{r.estimated_bpp:.4f}"
        lines = [
            f"image        {r.image_name} ({w}x{h})",
            f"codec        {r.codec}  quality {r.quality}"
            + (f"  weights {r.codec_weights}" if r.codec_weights else ""),
            f"task         {r.task}  weights {r.task_weights}",
            f"bpp measured {r.measured_bpp:.4f}  (payload bytes; hmxai file {r.file_bytes} B)",
            f"bpp estimate {est}",
            f"PSNR         {r.psnr:.2f} dB",
            f"MS-SSIM      {r.ms_ssim:.4f}",
            f"encode       {1000 * r.encode_seconds:.0f} ms   decode {1000 * r.decode_seconds:.0f} ms",
            f"{'rank':<5}{'original':<34}{'decoded':<34}",
        ]
        for i in range(len(r.original.labels)):
            a = f"{r.original.labels[i][:24]} {r.original.probabilities[i]:.3f}"
            b = f"{r.decoded.labels[i][:24]} {r.decoded.probabilities[i]:.3f}"
            lines.append(f"{i + 1:<5}{a:<34}{b:<34}")
        lines.append(f"top-1 agrees {'yes' if r.top1_agreement else 'NO'}")
        if r.codec_weights and r.codec_weights.startswith("random-init"):
            lines.append("note         untrained codec weights: these numbers show the machinery, not the codec")
        if r.label is not None:
            lines.append(
                f"label {r.label}: original {'correct' if r.correct_original else 'wrong'}, "
                f"decoded {'correct' if r.correct_decoded else 'wrong'}"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """Plain JSON-ready dict; estimated and measured bpp stay separate fields.

        Non-finite floats (PSNR of a lossless decode is +inf) become None, as
        JSON has no infinity.
        """
        import math
        from dataclasses import asdict, fields

        plain = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "rung"}
        plain.update(original=asdict(self.original), decoded=asdict(self.decoded))
        d = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in plain.items()}
        d["image_size"] = list(self.image_size)
        d["correct_original"] = self.correct_original
        d["correct_decoded"] = self.correct_decoded
        for key in ("original", "decoded"):
            d[key] = {k: list(v) for k, v in d[key].items()}
        return d
