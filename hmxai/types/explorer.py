"""The explorer's view model: everything one state of the rate explorer shows, computed once.

A state is (image, codec, quality, kept latent channels, explanation method). This module holds
numbers and arrays only; the PNG bytes the browser shows are rendered from a view by
:func:`hmxai.explore.render.render_view`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from hmxai.types.pipeline import Prediction



@dataclass(frozen=True)
class ExplorerView:
    """One explorer state, ready to draw.

    Attributes:
        codec, quality: the rung; ``method``: the pixel explanation (``none`` for none).
        kept: latent channels transmitted, ascending, or None for all of them (and always
            None for classical codecs, which have no latent).
        num_channels: latent channels of the codec (None: classical).
        image_size: (H, W).
        measured_bpp: bits per pixel of real bytes: the codec's stream, or, with channels
            dropped, a real stream in which each dropped element is coded as its most
            probable value (:meth:`~hmxai.codecs.learned.LearnedCodec.compress_latent`).
        estimated_bpp: entropy-model bits of the kept channels plus the side information,
            per pixel (what a channel-scalable coder would send); None for classical codecs.
        psnr, ms_ssim: of the decoded image against the original (dB; [0, 1]).
        original, decoded: the task's top-5 on the original and on the decoded image.
        target: the explained class (the original's top-1), ``target_probability`` on the decoded image.
        decoded: (H, W, 3) uint8; ``error``: (H, W) mean |x_hat - x| over colour;
            ``bitmap``: (H, W) bits per pixel of each latent cell, each cell's value over its
            pixels (kept channels; None: classical);
            ``explanation``: (H, W) raw signed map of ``method`` (None for ``none``).
        channel_bits: (M,) estimated bits of each channel at this quality; ``machine`` and
            ``human``: (M,) their importance as the channel orderings use it (drop of the target
            logit, rise of the MSE when the channel alone is removed; input-x-gradient estimates
            by default); None for classical codecs.
        scores_method: how ``machine`` and ``human`` were computed (``input-x-gradient``: the fast
            estimate; ``ablation``: exact, the explorer's background refinement); None: classical.
        bitmap_cell: side of a latent cell in image pixels (None: classical codec).
        seconds: time to compute this view (not counting cached parts).
        spikes, steps, energy_j, ann_energy_j: for a spiking task, its spikes on the decoded image
            in ``steps`` time steps and the energy of the SNN and of its ANN (fp32, Horowitz 2014);
            None for other tasks.
    """

    codec: str
    quality: float  # an int, or a float for a variable-rate codec
    method: str
    kept: Optional[Tuple[int, ...]]
    num_channels: Optional[int]
    image_size: Tuple[int, int]
    measured_bpp: float
    estimated_bpp: Optional[float]
    psnr: float
    ms_ssim: float
    original: Prediction
    decoded: Prediction
    target: int
    target_label: str
    target_probability: float
    decoded_image: np.ndarray
    error: np.ndarray
    bitmap: Optional[np.ndarray]
    explanation: Optional[np.ndarray]
    channel_bits: Optional[Tuple[float, ...]]
    machine: Optional[Tuple[float, ...]]
    human: Optional[Tuple[float, ...]]
    seconds: float
    bitmap_cell: Optional[int] = None
    scores_method: Optional[str] = None
    spikes: Optional[float] = None
    steps: Optional[int] = None
    energy_j: Optional[float] = None
    ann_energy_j: Optional[float] = None

    @property
    def agreement(self) -> bool:
        """Top-1 on the decoded image equals top-1 on the original."""
        return self.decoded.indices[0] == self.original.indices[0]

    @property
    def channels_kept(self) -> Optional[int]:
        if self.num_channels is None:
            return None
        return self.num_channels if self.kept is None else len(self.kept)

    @property
    def nbytes(self) -> int:
        """Approximate memory held by this view's arrays, for the cache."""
        arrays = [self.decoded_image, self.error, self.bitmap, self.explanation]
        return sum(a.nbytes for a in arrays if a is not None)

    def to_dict(self) -> dict:
        """The numbers of this view as a JSON-ready dict (no arrays, no images)."""

        def num(v):
            return None if v is None or not math.isfinite(v) else round(float(v), 6)

        def pred(p: Prediction):
            return [{"index": i, "label": lab, "probability": round(pr, 6)}
                    for i, lab, pr in zip(p.indices, p.labels, p.probabilities)]

        return {
            "codec": self.codec, "quality": self.quality, "method": self.method,
            "image_size": list(self.image_size),
            "channels_kept": self.channels_kept, "num_channels": self.num_channels,
            "kept": None if self.kept is None else list(self.kept),
            "measured_bpp": num(self.measured_bpp), "estimated_bpp": num(self.estimated_bpp),
            "psnr": num(self.psnr), "ms_ssim": num(self.ms_ssim), "agreement": self.agreement,
            "target": self.target, "target_label": self.target_label,
            "target_probability": num(self.target_probability),
            "top5_original": pred(self.original), "top5_decoded": pred(self.decoded),
            "scores_method": self.scores_method,
            **({} if self.spikes is None else {"spikes": self.spikes, "steps": self.steps,
                                               "energy_j": self.energy_j, "ann_energy_j": self.ann_energy_j}),
        }
