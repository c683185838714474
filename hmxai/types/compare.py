"""Typed result of comparing two codecs on one image at one rate (see :func:`hmxai.explain.compare.compare_codecs`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

from torch import Tensor

from hmxai.types.explain import BitBudget, ChannelScores, SpatialMaps
from hmxai.types.rung import Rung


@dataclass(frozen=True)
class CodecSide:
    """One codec's view of the image: its rung (real bytes), channel scores, bit budget, bit and
    attribution maps, and the Grad-CAM of the shared target on its decoded image ((H, W), raw)."""

    rung: Rung
    scores: ChannelScores
    budget: BitBudget
    maps: SpatialMaps
    cam: Tensor

    @property
    def agrees(self) -> bool:
        """The task's top-1 on the decoded image equals its top-1 on the original."""
        return self.rung.prediction.indices[0] == self.scores.reference_class

    def to_dict(self) -> dict:
        m = self.rung.metrics
        return {"codec": self.rung.codec, "quality": self.rung.quality, "measured_bpp": m.measured_bpp,
                "estimated_bpp": m.estimated_bpp, "psnr": m.psnr, "ms_ssim": m.ms_ssim,
                "top1_label": self.rung.prediction.labels[0], "top1_probability": self.rung.prediction.probabilities[0],
                "agrees": bool(self.agrees), "latent_bits": float(self.scores.bits.sum()),
                "side_bits": self.scores.side_bits, "budget": self.budget.to_dict(),
                "bits_vs_machine_spearman": self.maps.agreement, "bits_vs_error_spearman": self.maps.error_agreement,
                "channels": {"bits": self.scores.bits.tolist(), "machine": self.scores.machine.tolist(),
                             "human": self.scores.human.tolist()}}


@dataclass(frozen=True)
class CodecComparison:
    """Two codecs side by side on one image at one quality, explained for the same target class.

    Attributes:
        sides: (first, second); the differences below are second minus first.
        target, target_label: the class explained (the task's top-1 on the original).
        method: the channel-attribution method.
    """

    sides: Tuple[CodecSide, CodecSide]
    target: int
    target_label: str
    method: str

    @property
    def bits_difference(self) -> Tensor:
        """(h, w) estimated bits of ``y`` per latent position, second minus first."""
        return self.sides[1].maps.bits_y - self.sides[0].maps.bits_y

    @property
    def cam_difference(self) -> Tensor:
        """(H, W) Grad-CAM on the decoded images, each normalized by its own peak, second minus first."""
        a, b = (s.cam / s.cam.abs().max().clamp_min(1e-12) for s in self.sides)
        return b - a

    @property
    def budget_shift(self) -> dict:
        """Per budget class, the change of its fraction of the latent bits (second minus first)."""
        fa, fb = (dict(s.budget.fractions.items()) for s in self.sides)
        return {k: fb[k] - fa[k] for k in fa}

    @property
    def rate_change(self) -> float:
        """Relative change of the measured rate (second over first, minus 1)."""
        a, b = (s.rung.metrics.measured_bpp for s in self.sides)
        return b / a - 1.0

    def to_dict(self) -> dict:
        return {"target": self.target, "target_label": self.target_label, "method": self.method,
                "sides": [s.to_dict() for s in self.sides], "rate_change": self.rate_change,
                "budget_shift": self.budget_shift,
                "bits_difference": {"mean": float(self.bits_difference.mean()),
                                    "moved": float(self.bits_difference.abs().sum() / 2)}}
