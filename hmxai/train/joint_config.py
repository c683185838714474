"""Configuration of a joint human+machine training run (``hmxai train joint CONFIG``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

from hmxai.errors import InvalidArgumentError
from hmxai.train.vbr_config import VbrConfig

VARIANTS = ("full", "adapter")


@dataclass(frozen=True)
class JointConfig(VbrConfig):
    """A variable-rate run (every :class:`VbrConfig` key) with the machine term::

        L = R + lambda_h * lambda(q) * 255^2 * MSE(x, x_hat) + lambda_m * D_m(x, x_hat)
        D_m = T^2 * KL(softmax(t(x) / T) || softmax(t(x_hat) / T)) + feature_weight * |f(x_hat) - f(x)|^2 / mean(f(x)^2)

    ``t`` is the teacher (EfficientNet-Lite0), ``f`` its Grad-CAM layer's output, ``lambda(q)``
    the human codec's own trade-off at the batch's quality: with ``lambda_h = 1`` and
    ``lambda_m = 0`` the loss is the human codec's training objective, term for term.

    Attributes:
        variant: ``"full"`` fine-tunes the whole codec; ``"adapter"`` trains only a light
            :class:`~hmxai.codecs.adaptation.LatentAdapter` on the latent and leaves the human
            codec (transforms, entropy models) frozen, bit for bit.
        lambda_h, lambda_m: weights of the human and machine distortions.
        feature_weight: weight of the feature-matching part of ``D_m`` (0: the KL alone).
        temperature: ``T`` of the distillation.
        teacher: the task model distilled from (a registry name of hmxai.tasks).
        adapter_hidden: hidden width of the adapter (variant ``"adapter"``).
        val_task: report the teacher's top-1 agreement on the validation images too.
    """

    name: str = "hmxai-hm"
    stage_steps: Tuple[int, int, int] = (0, 1200, 300)
    lr: float = 5e-5
    warmup: int = 50
    lr_stage3: float = 1e-5
    val_every: int = 300
    val_images: int = 16
    init_from: Optional[str] = "zoo:hmxai-vbr"  # the package's human codec
    variant: str = "full"
    lambda_h: float = 1.0
    lambda_m: float = 1.0
    feature_weight: float = 0.0
    temperature: float = 1.0
    teacher: str = "efficientnet-lite0"
    adapter_hidden: int = 64
    val_task: bool = True

    def __post_init__(self):
        super().__post_init__()
        if self.variant not in VARIANTS:
            raise InvalidArgumentError(f"variant must be one of {VARIANTS}, got {self.variant!r}")
        for key in ("lambda_h", "lambda_m", "feature_weight"):
            value = getattr(self, key)
            if not isinstance(value, (int, float)) or value != value or value < 0:
                raise InvalidArgumentError(f"{key} must be a number >= 0, got {value!r}")
        if not self.temperature > 0:
            raise InvalidArgumentError(f"temperature must be > 0, got {self.temperature!r}")
        if self.variant == "adapter" and self.init_from is None:
            raise InvalidArgumentError("the adapter variant adapts a trained human codec: set init_from")
        if self.fixed_quality is not None:
            raise InvalidArgumentError("a joint run covers the codec's whole rate range: fixed_quality is not supported")
