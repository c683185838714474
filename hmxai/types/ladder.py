"""Typed results of the pixel explanations across rates: the decoded ladder and the maps on it.

Row 0 of every ladder is the original image; rows 1.. are its decoded versions, one per
(codec, quality) rung, each from real bytes. Maps are raw and signed (normalize only when drawing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import torch
from torch import Tensor

from hmxai.errors import InvalidArgumentError
from hmxai.types.pipeline import Prediction
from hmxai.types.rung import Rung


@dataclass(frozen=True)
class RateLadder:
    """An image and its decoded versions, with the task's predictions on each.

    Attributes:
        images: (1 + R, 3, H, W) float in [0, 1]; row 0 the original.
        codecs, qualities: (R,) the rung of each decoded row.
        measured_bpp: (R,) bits per pixel of the codec's real bytes.
        psnr, ms_ssim: (R,) of each decoded row against the original (dB; [0, 1]).
        task: the task model's name; ``predictions`` (1 + R,) its top-5 on each row.
        rungs: (R,) the :class:`~hmxai.types.Rung` of each decoded row (bytes, latent, metrics,
            prediction), as :func:`hmxai.decode` computed them; empty for a ladder assembled by hand.
    """

    images: Tensor
    codecs: Tuple[str, ...]
    qualities: Tuple[float, ...]
    measured_bpp: Tuple[float, ...]
    psnr: Tuple[float, ...]
    ms_ssim: Tuple[float, ...]
    task: str
    predictions: Tuple[Prediction, ...]
    rungs: Tuple[Rung, ...] = field(default=(), repr=False, compare=False)

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def image_size(self) -> Tuple[int, int]:
        return tuple(self.images.shape[-2:])

    def row_label(self, row: int) -> str:
        """``original`` or ``jpeg q30``: a short name of a row."""
        return "original" if row == 0 else f"{self.codecs[row - 1]} q{self.qualities[row - 1]}"

    def to_dict(self) -> dict:
        """JSON-ready: the task and one plain dict per row (name, bpp, PSNR, MS-SSIM, top-1); no images."""
        return {"task": self.task, "rows": self._rows()}

    def _rows(self) -> List[dict]:
        out = []
        for i, p in enumerate(self.predictions):
            r = {"row": i, "codec": None if i == 0 else self.codecs[i - 1],
                 "quality": None if i == 0 else self.qualities[i - 1],
                 "measured_bpp": None if i == 0 else self.measured_bpp[i - 1],
                 "psnr": None if i == 0 else self.psnr[i - 1], "ms_ssim": None if i == 0 else self.ms_ssim[i - 1],
                 "top1": p.indices[0], "top1_label": p.labels[0], "top1_probability": p.probabilities[0]}
            out.append(r)
        return out


@dataclass(frozen=True)
class PixelExplanation:
    """One pixel-explanation method on every row of a :class:`RateLadder`, same target class.

    Attributes:
        method: ``grad-cam``, ``hires-cam``, ``lime``, ...
        target: the explained class (the original's top-1 unless chosen), ``target_label`` its name.
        maps: (1 + R, H, W) raw signed attributions; row 0 the original.
        probabilities: (1 + R,) the task's probability of ``target`` on each row.
        seconds: wall time of the whole ladder.
        segments: (H, W) int64 superpixel index of each pixel, shared by all rows (LIME), else None.
        weights: (1 + R, F) one weight per superpixel (LIME), else None; ``maps = weights[:, segments]``.
        intercepts, fit_scores: (1 + R,) of LIME's weighted linear fit (R^2 on the samples), else None.
        params: the method's settings (seed, samples, segmentation ...), for reports.
    """

    method: str
    target: int
    target_label: str
    maps: Tensor
    probabilities: Tuple[float, ...]
    seconds: float
    segments: Optional[Tensor] = None
    weights: Optional[Tensor] = None
    intercepts: Optional[Tuple[float, ...]] = None
    fit_scores: Optional[Tuple[float, ...]] = None
    params: Tuple[Tuple[str, object], ...] = ()

    def to_dict(self) -> dict:
        """JSON-ready: method, target, probabilities, timing, settings; LIME's superpixel weights (maps by shape)."""
        return {"method": self.method, "target": self.target, "target_label": self.target_label,
                "probabilities": list(self.probabilities), "seconds": self.seconds, "params": dict(self.params),
                "maps_shape": list(self.maps.shape),
                "superpixel_weights": None if self.weights is None else self.weights.tolist(),
                "intercepts": None if self.intercepts is None else list(self.intercepts),
                "fit_scores": None if self.fit_scores is None else list(self.fit_scores)}

    def shared_scale(self) -> float:
        """One colour limit for every map (largest absolute value), so rows are comparable."""
        return float(self.maps.abs().max()) or 1.0

    def top_superpixels(self, row: int = 0, k: int = 5) -> Tuple[int, ...]:
        """LIME: the ``k`` superpixels with the largest positive weight on ``row``."""
        if self.weights is None:
            raise InvalidArgumentError(f"{self.method} has no superpixels")
        return tuple(torch.argsort(self.weights[row], descending=True, stable=True)[:k].tolist())


@dataclass(frozen=True)
class Drift:
    """How one row's explanation moved against the original's (row 0).

    ``spearman``: rank correlation of the maps (of the superpixel weights for LIME);
    ``top_iou``: IoU of the top ``top`` fraction (pixels, or superpixels for LIME);
    ``class_changed``: the row's top-1 differs from the original's top-1;
    ``target_probability``: the task's probability of the explained class on the row.
    """

    row: int
    codec: str
    quality: float  # an int, or a float for a variable-rate codec
    measured_bpp: float
    psnr: float
    method: str
    spearman: float
    top: float
    top_iou: float
    class_changed: bool
    target_probability: float

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class PixelFaithfulness:
    """Deletion/insertion of one pixel explanation on each row of a ladder.

    ``fractions`` (K,) of the pixels removed (deletion, from the row's decoded image toward
    ``baseline``) or inserted (insertion, from the baseline toward the decoded image), most
    important first; ``deletion``/``insertion`` (1 + R, K) the target probability;
    ``random_*`` the same for a seeded random pixel order (the control).
    """

    method: str
    baseline: str
    fractions: Tuple[float, ...]
    deletion: Tensor
    insertion: Tensor
    random_deletion: Tensor
    random_insertion: Tensor

    def to_dict(self) -> dict:
        return {"method": self.method, "baseline": self.baseline, "fractions": list(self.fractions),
                **{k: getattr(self, k).tolist() for k in ("deletion", "insertion", "random_deletion", "random_insertion")}}

    def auc(self, curves: Tensor) -> Tensor:
        """Trapezoid area over the fractions, per row: (1 + R, K) -> (1 + R,)."""
        f = torch.tensor(self.fractions, dtype=curves.dtype)
        return torch.trapezoid(curves, f, dim=1) / float(f[-1] - f[0])

    def aucs(self) -> List[dict]:
        """Per row: deletion/insertion AUC and their random controls."""
        d, i = self.auc(self.deletion), self.auc(self.insertion)
        rd, ri = self.auc(self.random_deletion), self.auc(self.random_insertion)
        return [{"row": r, "deletion_auc": float(d[r]), "insertion_auc": float(i[r]),
                 "random_deletion_auc": float(rd[r]), "random_insertion_auc": float(ri[r])}
                for r in range(d.shape[0])]
