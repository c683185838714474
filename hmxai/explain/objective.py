"""The latent objective: decode a (modified) latent once, score it for the machine and the human.

Every channel explanation in hmxai evaluates this one function::

    y_hat' (n, M, h, w) -g_s-> x_hat' (n, 3, H, W) -+-> task -> target logit, probability, top-1 agreement
                                                    +-> vs the original x -> MSE, MS-SSIM

so the machine's and the human's scores always come from the same decoded pass.
The "not transmitted" value of a channel is the entropy model's most probable
value: the predicted mean (mean-scale and autoregressive models), 0 (scale
hyperprior, zero-mean Gaussian), the per-channel median (factorized prior).

For autoregressive models the means come from the *transmitted* context and the other
channels keep their transmitted values, so removing a channel is an approximation there:
a real decoder that lacked the channel would predict different means for every channel.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hmxai.errors import InvalidArgumentError, NoLatentError
from hmxai.images import crop_to
from hmxai.metrics import ms_ssim
from hmxai.types import LatentResult

#: columns of the objective's output, in order
OUTPUTS: Tuple[str, ...] = ("logit", "probability", "agreement", "mse", "ms_ssim")
#: ablation values a channel can be replaced by (see :func:`ablation_values`)
ABLATIONS: Tuple[str, ...] = ("not-transmitted", "zero", "mean")


def require_latent(codec) -> None:
    """Raise :class:`NoLatentError` unless ``codec`` is a learned codec with a latent."""
    if not getattr(codec, "has_latent", False):
        raise NoLatentError(
            f"{getattr(codec, 'name', codec)!r} has no latent channels to explain "
            "(classical codecs code pixels/transform blocks, not a learned latent); "
            "use a learned codec such as hmxai-vbr, or the pixel explanations of hmxai explain"
        )


def given_latent(latent, codec, x):
    """The caller's latent (a LatentResult, or a Rung's), checked against the codec and the image;
    ``None`` stays ``None`` (the caller analyses the image)."""
    if latent is None:
        return None
    if hasattr(latent, "metrics"):  # a Rung
        rung = latent
        if (rung.codec, rung.quality, rung.weights_id) != (codec.name, codec.quality, codec.weights_id):
            raise InvalidArgumentError(f"the rung is {rung.codec} q{rung.quality}, not {codec.name} q{codec.quality} "
                                       "with these weights")
        latent = rung.latent
    if latent is None or latent.codec != codec.name or latent.quality != codec.quality:
        raise InvalidArgumentError(f"the latent must be {codec.name} q{codec.quality}'s")
    if tuple(latent.image_size) != tuple(x.shape[-2:]) or latent.y_hat.shape[0] != 1:
        raise InvalidArgumentError(f"the latent is of a {latent.image_size} image, not of this {tuple(x.shape[-2:])} one")
    return latent


def ablation_values(codec, latent: LatentResult, mode: str = "not-transmitted") -> Tensor:
    """(1, M, h, w) value each latent element takes when its channel is ablated.

    ``not-transmitted``: the entropy model's most probable value (see module doc);
    ``zero``: 0; ``mean``: the channel's spatial mean of ``y_hat``.
    """
    y_hat = latent.y_hat
    if mode == "zero":
        return torch.zeros_like(y_hat)
    if mode == "mean":
        return y_hat.mean(dim=(2, 3), keepdim=True).expand_as(y_hat).clone()
    if mode != "not-transmitted":
        raise InvalidArgumentError(f"ablation must be one of {', '.join(ABLATIONS)}, not {mode!r}")
    if latent.means is not None:
        return latent.means.clone()
    if latent.z_likelihoods is not None:  # scale hyperprior: zero-mean Gaussian
        return torch.zeros_like(y_hat)
    medians = codec.model.entropy_bottleneck._get_medians().detach()
    return medians.reshape(1, -1, 1, 1).expand_as(y_hat).clone()



class LatentObjective:
    """Scores of decoded latents for one image; call with ``y: (n, M, h, w)`` -> ``(n, 5)``.

    Columns are :data:`OUTPUTS`: the target class's logit and softmax probability,
    top-1 agreement with the task's prediction on the original image (1.0/0.0), the MSE
    and the MS-SSIM of the decoded image against the original ``x``.

    Args:
        codec: a learned codec (``codec.model.g_s`` decodes).
        task: the task model (``(B, 3, H, W)`` in [0, 1] -> logits).
        x: (1, 3, H, W) float in [0, 1], the original image.
        latent: ``codec.analyze(x)``.
        target: class to explain; default the task's top-1 class on the original.
    """

    def __init__(self, codec, task: nn.Module, x: Tensor, latent: LatentResult, target: Optional[int] = None):
        require_latent(codec)
        if x.shape[0] != 1:
            raise InvalidArgumentError("channel explanations take one image at a time: x must be (1, 3, H, W)")
        self.codec, self.task, self.x, self.latent = codec, task, x.float(), latent
        with torch.no_grad():
            logits = task(self.x)
        self.reference_class = int(logits.argmax(-1))
        self.target = self.reference_class if target is None else int(target)
        if not 0 <= self.target < logits.shape[-1]:
            raise InvalidArgumentError(f"target {self.target} is not a class of the task (0..{logits.shape[-1] - 1})")

    def decode(self, y: Tensor) -> Tensor:
        """(n, M, h, w) latent -> (n, 3, H, W) decoded image in [0, 1].

        Runs in channels-last memory format (about 20 % faster convolutions on a CPU; the
        values equal the standard layout's to float rounding).
        """
        x_hat = self.codec.model.g_s(y.contiguous(memory_format=torch.channels_last))
        return crop_to(x_hat.clamp(0, 1), self.latent.image_size)

    def terms(self, x_hat: Tensor, logits: Optional[Tensor] = None) -> Tuple[Tensor, ...]:
        """The five (n,) scores as separate tensors (columns :data:`OUTPUTS`).

        Kept apart so that a gradient of one score never runs backward through the others.
        """
        if logits is None:
            logits = self.task(x_hat.contiguous(memory_format=torch.channels_last))
        target_logit = logits[:, self.target]
        prob = F.softmax(logits.double(), dim=-1)[:, self.target].to(logits.dtype)
        agree = (logits.argmax(-1) == self.reference_class).to(logits.dtype)
        ref = self.x.expand_as(x_hat)
        err = (x_hat - ref).pow(2).flatten(1).mean(1)
        sim = ms_ssim(x_hat, ref, dtype=torch.float32).to(logits.dtype)
        return target_logit, prob, agree, err, sim

    def scores(self, x_hat: Tensor, logits: Optional[Tensor] = None) -> Tensor:
        """(n, 3, H, W) decoded images -> (n, 5) scores (columns :data:`OUTPUTS`)."""
        return torch.stack(self.terms(x_hat, logits), dim=1)

    def __call__(self, y: Tensor) -> Tensor:
        return self.scores(self.decode(y))


class LatentReaderObjective(LatentObjective):
    """The objective when the task reads the latent itself (:class:`~hmxai.latent.model.LatentTaskModel`):
    the machine's columns come from the task on ``y`` directly, with no decoder; the human's
    from the decoded image, as for every task. The reference class is the task's top-1 on the
    transmitted latent (such a machine never sees the original image)."""

    #: channel methods whose every evaluation goes through :meth:`__call__`
    METHODS = ("ablation", "shapley")

    def __init__(self, codec, task: nn.Module, x: Tensor, latent: LatentResult, target: Optional[int] = None):
        require_latent(codec)
        if x.shape[0] != 1:
            raise InvalidArgumentError("channel explanations take one image at a time: x must be (1, 3, H, W)")
        task.check(codec.name, getattr(codec, "weights_id", None), latent.y_hat)
        self.codec, self.task, self.x, self.latent = codec, task, x.float(), latent
        with torch.no_grad():
            logits = self.logits(latent.y_hat)
        self.reference_class = int(logits.argmax(-1))
        self.target = self.reference_class if target is None else int(target)
        if not 0 <= self.target < logits.shape[-1]:
            raise InvalidArgumentError(f"target {self.target} is not a class of the task (0..{logits.shape[-1] - 1})")

    def logits(self, y: Tensor) -> Tensor:
        return self.task(y, tuple(self.latent.image_size))

    def __call__(self, y: Tensor) -> Tensor:
        return self.scores(self.decode(y), self.logits(y))


def objective_for(codec, task, x: Tensor, latent: LatentResult, target: Optional[int] = None) -> LatentObjective:
    """The latent objective for ``task``: :class:`LatentReaderObjective` for a task that reads latents."""
    if getattr(task, "reads", None) == "latent":
        return LatentReaderObjective(codec, task, x, latent, target)
    return LatentObjective(codec, task, x, latent, target)


def live_channels(y_hat: Tensor, baseline: Tensor) -> Tensor:
    """(M,) bool: channels whose transmitted value differs from the ablation value somewhere.

    Ablating any other channel changes nothing, so its exact effect is 0 and is not evaluated.
    """
    return (y_hat != baseline).flatten(2).any(-1).any(0)


def with_channels(full: Tensor, channels: Tensor, values: Tensor) -> Tensor:
    """``full`` (1, M, h, w) repeated for each row of ``values`` (n, L, h, w), channels replaced."""
    out = full.expand(values.shape[0], *full.shape[1:]).clone()
    out[:, channels] = values
    return out


