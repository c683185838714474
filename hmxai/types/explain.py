"""Typed results of the explanations (frozen dataclasses): channel scores, bit budget, curves, maps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import torch
from torch import Tensor

from hmxai.errors import UnknownNameError


def _json_floats(values) -> Optional[list]:
    import math

    if values is None:
        return None
    return [None if not math.isfinite(v) else round(v, 8) for v in torch.as_tensor(values).double().tolist()]


@dataclass(frozen=True)
class Effects:
    """The objective on one decoded latent, by name: the target class's ``logit`` and softmax
    ``probability``, top-1 ``agreement`` with the original's prediction (0 or 1), and the
    reconstruction's ``mse`` and ``ms_ssim`` against the original."""

    logit: float
    probability: float
    agreement: float
    mse: float
    ms_ssim: float

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ChannelScores:
    """Per-latent-channel bits and importance for the machine and the human eye (one image).

    Every score is a raw, signed ``(M,)`` float64 tensor, the effect of *removing*
    the channel (replacing it by the ablation value), never normalized:

    * ``machine_logit``: drop of the target class's logit (> 0: the channel supports the decision);
    * ``machine_probability``: drop of the target's softmax probability;
    * ``machine_agreement``: drop of top-1 agreement with the original's prediction (1: removing
      this channel alone changes the decision); None for gradient methods (not differentiable);
    * ``human_mse``: rise of the reconstruction's MSE (> 0: the channel helps the human);
      ``human_psnr`` (property) the same as a drop of PSNR in dB;
    * ``human_ms_ssim``: drop of MS-SSIM.

    ``ablation`` gives the effects themselves; ``shapley`` the average marginal effect of
    removing the channel over random removal orders; gradient methods approximate the effects
    (``input-x-gradient``: first order at the transmitted latent, plus the estimated second-order
    term for the MSE; ``integrated-gradients``: path integral from the all-ablated latent, whose
    channel scores sum to the total effect).

    Attributes:
        bits: (M,) estimated bits of each channel of ``y`` (from the likelihoods).
        side_bits: estimated bits of the hyper-latent ``z`` (0 without hyperprior).
        live: (M,) bool, channels that differ from the ablation value somewhere
            (removing any other channel changes nothing).
        base: the objective on the transmitted latent: logit, probability, agreement, mse, ms_ssim.
        evaluations: decoded images evaluated (decoder + task forward passes, counted per image).
    """

    codec: str
    quality: int
    task: str
    method: str
    ablation: str
    target: int
    target_label: str
    reference_class: int
    image_size: Tuple[int, int]
    bits: Tensor
    side_bits: float
    live: Tensor
    machine_logit: Tensor
    machine_probability: Tensor
    machine_agreement: Optional[Tensor]
    human_mse: Tensor
    human_ms_ssim: Tensor
    base: Effects
    seconds: float
    evaluations: int
    completeness_gap: Optional[float] = None

    @property
    def machine(self) -> Tensor:
        """(M,) the machine importance used by orderings and plots: ``machine_logit``."""
        return self.machine_logit

    @property
    def human(self) -> Tensor:
        """(M,) the human importance used by orderings and plots: ``human_mse``."""
        return self.human_mse

    @property
    def human_psnr(self) -> Tensor:
        """(M,) drop of PSNR in dB, from the MSE rise: ``10 log10((mse + rise) / mse)``."""
        base = self.base_value("mse")
        return 10 * torch.log10((base + self.human_mse).clamp(min=1e-12) / max(base, 1e-12))

    @property
    def num_channels(self) -> int:
        return int(self.bits.numel())

    @property
    def num_pixels(self) -> int:
        return self.image_size[0] * self.image_size[1]

    @property
    def estimated_bpp(self) -> float:
        return (float(self.bits.sum()) + self.side_bits) / self.num_pixels

    def base_value(self, name: str) -> float:
        return getattr(self.base, name)

    def to_dict(self) -> dict:
        return {
            "codec": self.codec, "quality": self.quality, "task": self.task, "method": self.method,
            "ablation": self.ablation, "target": self.target, "target_label": self.target_label,
            "reference_class": self.reference_class, "image_size": list(self.image_size),
            "estimated_bpp": self.estimated_bpp, "side_bits": self.side_bits,
            "base": self.base.to_dict(), "seconds": self.seconds, "evaluations": self.evaluations,
            "completeness_gap": self.completeness_gap,
            "channels": {
                "bits": _json_floats(self.bits), "live": [bool(v) for v in self.live.tolist()],
                "machine_logit": _json_floats(self.machine_logit),
                "machine_probability": _json_floats(self.machine_probability),
                "machine_agreement": _json_floats(self.machine_agreement),
                "human_mse": _json_floats(self.human_mse), "human_psnr_db": _json_floats(self.human_psnr),
                "human_ms_ssim": _json_floats(self.human_ms_ssim),
            },
        }


#: the four classes of the bit budget, in drawing order
BUDGET_CLASSES: Tuple[str, ...] = ("both", "machine", "human", "neither")


@dataclass(frozen=True)
class BudgetShares:
    """A number per class of the bit budget (bits, or fractions of the latent bits)."""

    both: float
    machine: float
    human: float
    neither: float

    def items(self) -> Tuple[Tuple[str, float], ...]:
        """(class, value) in :data:`BUDGET_CLASSES` order."""
        return tuple((k, getattr(self, k)) for k in BUDGET_CLASSES)

    def to_dict(self) -> dict:
        return dict(self.items())


@dataclass(frozen=True)
class BitBudget:
    """An image's latent bits split by whom each channel mainly serves (see :func:`hmxai.explain.budget.bit_budget`).

    Attributes:
        classes: (M,) class of each channel, one of :data:`BUDGET_CLASSES`.
        bits: class -> estimated bits of its channels.
        side_bits: bits of the hyper-latent (serve every channel; not classified).
        machine_coverage, human_coverage: the rule's parameters.
    """

    classes: Tuple[str, ...]
    bits: BudgetShares
    side_bits: float
    machine_coverage: float
    human_coverage: float

    @property
    def fractions(self) -> BudgetShares:
        """Per class, the fraction of the latent bits (side bits excluded); they sum to 1."""
        total = sum(v for _, v in self.bits.items())
        return BudgetShares(**{k: (v / total if total > 0 else 0.0) for k, v in self.bits.items()})

    def count(self, name: str) -> int:
        return sum(c == name for c in self.classes)

    def to_dict(self) -> dict:
        return {"bits": self.bits.to_dict(), "fractions": self.fractions.to_dict(), "side_bits": self.side_bits,
                "channels": {k: self.count(k) for k in BUDGET_CLASSES}, "classes": list(self.classes),
                "machine_coverage": self.machine_coverage, "human_coverage": self.human_coverage}


@dataclass(frozen=True)
class BudgetCurve:
    """Rate vs machine and human quality when only the top-k channels of an ordering are sent.

    Every field is (K,) over the channel counts ``ks``, averaged over the images.
    ``accuracy`` is None without labels. Rates are estimated (sent channels' bits + side bits).
    """

    ordering: str
    ks: Tuple[int, ...]
    estimated_bpp: Tuple[float, ...]
    psnr: Tuple[float, ...]
    ms_ssim: Tuple[float, ...]
    agreement: Tuple[float, ...]
    probability: Tuple[float, ...]
    accuracy: Optional[Tuple[float, ...]] = None

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class OrderingBD:
    """One ordering's budget curve against the anchor's (pchip, equal-rate averages): ``bd_psnr_db``
    (dB), ``bd_agreement`` (fraction), ``bd_rate_psnr`` (percent); None where undefined (curves
    not monotonic enough to invert, or not overlapping)."""

    ordering: str
    bd_psnr_db: Optional[float]
    bd_agreement: Optional[float]
    bd_rate_psnr: Optional[float]

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class BudgetCurves:
    """Channel-budget curves of several orderings over a set of images, and BD numbers between them.

    ``bd`` holds, for every ordering against ``anchor`` (pchip, equal-rate averages):
    ``bd_psnr_db``, ``bd_agreement`` (fraction), ``bd_rate_psnr`` (percent, None where
    the PSNR curves are not monotonic enough to invert).
    """

    curves: Tuple[BudgetCurve, ...]
    images: int
    codec: str
    quality: int
    task: str
    method: str
    anchor: str
    bd: Tuple[OrderingBD, ...]

    def bd_of(self, ordering: str) -> OrderingBD:
        for row in self.bd:
            if row.ordering == ordering:
                return row
        raise UnknownNameError(f"no BD row for ordering {ordering!r}; known: {[r.ordering for r in self.bd]}")

    def curve(self, ordering: str) -> BudgetCurve:
        for c in self.curves:
            if c.ordering == ordering:
                return c
        raise UnknownNameError(f"no curve for ordering {ordering!r}; known: {[c.ordering for c in self.curves]}")

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return {"images": self.images, "codec": self.codec, "quality": self.quality, "task": self.task,
                "method": self.method, "anchor": self.anchor,
                "curves": [asdict(c) for c in self.curves],
                "bd": {r.ordering: {k: v for k, v in r.to_dict().items() if k != "ordering"} for r in self.bd}}


@dataclass(frozen=True)
class SpatialMaps:
    """Where the bits go, beside where the machine looks and where the human sees errors.

    Attributes:
        bits_y: (h, w) estimated bits of ``y`` per latent position (padded grid).
        bits_z: (h/4, w/4) estimated side bits per hyper-latent position, or None.
        machine: (H, W) signed pixel attribution of the target logit on the decoded image
            (captum ``InputXGradient``, summed over colour), raw.
        error: (H, W) squared error of the decoded image, mean over colour.
        machine_on_grid: (h, w) ``|machine|`` summed over each latent cell (zero in padding).
        agreement: Spearman correlation of ``bits_y`` and the mean ``|machine|`` per in-image
            pixel of each cell, over the cells that overlap the image.
        error_agreement: the same for bits and the squared error.
        cell: pixels per latent position along each side.
    """

    bits_y: Tensor
    bits_z: Optional[Tensor]
    machine: Tensor
    error: Tensor
    machine_on_grid: Tensor
    agreement: float
    error_agreement: float
    target: int
    target_label: str
    x_hat: Tensor
    cell: int = 16

    def to_dict(self) -> dict:
        """JSON-ready: the agreements, the target and the bit maps (the pixel maps only by shape)."""
        return {"target": self.target, "target_label": self.target_label, "cell": self.cell,
                "bits_vs_machine_spearman": self.agreement, "bits_vs_error_spearman": self.error_agreement,
                "bits_y": self.bits_y.tolist(), "bits_z": None if self.bits_z is None else self.bits_z.tolist(),
                "image_size": list(self.machine.shape[-2:])}


@dataclass(frozen=True)
class DeletionInsertion:
    """Deletion and insertion curves of a channel ordering (most important first).

    ``fractions`` (K,) of the live channels removed (deletion) or inserted (insertion);
    ``deletion``/``insertion`` (K,) the measured value: target probability for
    ``objective="machine"``, PSNR (dB) for ``"human"``. AUCs by the trapezoid rule on
    [0, 1]: a faithful ordering has a low deletion AUC and a high insertion AUC;
    ``random_*`` is the same for a seeded random ordering (the control).
    """

    objective: str
    ordering_method: str
    fractions: Tuple[float, ...]
    deletion: Tuple[float, ...]
    insertion: Tuple[float, ...]
    random_deletion: Tuple[float, ...]
    random_insertion: Tuple[float, ...]

    @staticmethod
    def auc(values) -> float:
        v = [float(a) for a in values]
        return sum((a + b) / 2 for a, b in zip(v, v[1:])) / (len(v) - 1)

    @property
    def deletion_auc(self) -> float:
        return self.auc(self.deletion)

    @property
    def insertion_auc(self) -> float:
        return self.auc(self.insertion)

    def to_dict(self) -> dict:
        from dataclasses import asdict

        d = asdict(self)
        d.update(deletion_auc=self.deletion_auc, insertion_auc=self.insertion_auc,
                 random_deletion_auc=self.auc(self.random_deletion),
                 random_insertion_auc=self.auc(self.random_insertion))
        return d


@dataclass(frozen=True)
class MachineHumanSplit:
    """How different the machine's and the human's channels are, over the live channels.

    ``spearman``: rank correlation of machine and human importance; ``top_overlap``: the share of
    the top ``top_n`` machine channels also among the top ``top_n`` human channels (1.0: the same
    channels; about the fraction asked for: unrelated); ``live_channels``: how many were compared.
    """

    spearman: float
    top_overlap: float
    live_channels: int
    top_n: int

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class MethodAgreementRow:
    """One fast method against the reference: Spearman per image (machine and human scores),
    their medians over the images where it is defined, and the method's seconds per image."""

    method: str
    machine: Tuple[float, ...]
    human: Tuple[float, ...]
    median_machine: float
    median_human: float
    seconds: Tuple[float, ...]

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class MethodAgreement:
    """How well fast channel methods rank channels like ``reference`` (exact ablation), per image."""

    reference: str
    reference_seconds: Tuple[float, ...]
    rows: Tuple[MethodAgreementRow, ...]

    def __getitem__(self, method: str) -> MethodAgreementRow:
        for row in self.rows:
            if row.method == method:
                return row
        raise UnknownNameError(f"no method {method!r} here; compared: {[r.method for r in self.rows]}")

    def to_dict(self) -> dict:
        return {"reference": self.reference, "reference_seconds": list(self.reference_seconds),
                "rows": [r.to_dict() for r in self.rows]}
