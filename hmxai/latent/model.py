"""A classifier that reads a learned codec's quantized latent: no decoder, no first layers.

Torfason et al. (ICLR 2018) classify from the latent a learned codec transmits, skipping the
decoder and the first layers of the vision network. hmxai's version distills EfficientNet-Lite0
(the teacher) into a network on ``y_hat``::

    y_hat (B, M, h, w) at 1/16 of the image --geometry of the teacher's crop, /16-->
      (B, M, 14, 14) --stem 3x3 + adapter MBConv blocks--> (B, 112, 14, 14)  ~ teacher's block 10
      --teacher's blocks 11..15, head, classifier--> logits (B, 1000)

The network is EfficientNet-shaped (``_conv_stem``, ``_bn0``, ``_blocks``, ``_conv_head``,
``_bn1``, ``_fc``; ReLU6, no squeeze-excitation), so :class:`~hmxai.spiking.network.SpikingEfficientNet`
converts it like the image network.

**Geometry.** The image task resizes the image so its shorter side is 256 pixels and takes the
centred 224 x 224 crop. The latent task does the same at 1/16 of the size: the latent of the
image's valid area is resized (bilinear, antialiased) so its shorter side is 16 cells, and the
centred 14 x 14 cells are kept. Each cell then covers what one stride-16 cell of the teacher sees.
"""

from __future__ import annotations

import copy
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hmxai.errors import InvalidArgumentError
from hmxai.modes import eval_mode
from hmxai.types import Prediction

#: the teacher's block whose output the adapter imitates (112 channels at stride 16)
FEATURE_BLOCK = 10
STRIDE = 16
RESIZE, CROP = 256, 224


class LatentInputError(InvalidArgumentError):
    """A latent the latent task cannot read: a classical codec, another codec, another width."""


def latent_network(teacher: nn.Module, channels: int, adapter_blocks: int = 3, expand: int = 6,
                   kernel: int = 5, seed: int = 0) -> nn.Module:
    """An EfficientNet-Lite whose stem and first ``FEATURE_BLOCK + 1`` blocks are replaced by an adapter
    from a ``channels``-wide latent (see the module's docstring). The tail is copied from ``teacher``
    (an ``efficientnet_lite_pytorch.EfficientNet``, which is not changed); the adapter is seeded."""
    from efficientnet_lite_pytorch.model import MBConvBlock
    from efficientnet_lite_pytorch.utils import BlockArgs

    if adapter_blocks < 1:
        raise InvalidArgumentError(f"adapter_blocks must be at least 1, got {adapter_blocks}")
    net = copy.deepcopy(teacher)
    width = teacher._blocks[FEATURE_BLOCK]._block_args.output_filters
    params = teacher._global_params._replace(drop_connect_rate=0.0)
    net._global_params = params
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net._conv_stem = nn.Conv2d(channels, width, 3, padding=1, bias=False)
        net._bn0 = nn.BatchNorm2d(width, momentum=1 - params.batch_norm_momentum, eps=params.batch_norm_epsilon)
        args = BlockArgs(num_repeat=1, kernel_size=kernel, stride=1, expand_ratio=expand, input_filters=width,
                         output_filters=width, se_ratio=None, id_skip=True)
        adapter = [MBConvBlock(args, params, image_size=[CROP // STRIDE] * 2) for _ in range(adapter_blocks)]
    net._blocks = nn.ModuleList(adapter + [copy.deepcopy(b) for b in teacher._blocks[FEATURE_BLOCK + 1:]])
    net.adapter_blocks = adapter_blocks
    return net


def adapter_features(net: nn.Module, y: Tensor) -> Tensor:
    """The adapter's output ``(B, 112, 14, 14)`` for preprocessed latents ``y`` (what imitates the
    teacher's block-10 output)."""
    h = net._swish(net._bn0(net._conv_stem(y)))
    for block in net._blocks[: net.adapter_blocks]:
        h = block(h)
    return h


def tail_logits(net: nn.Module, h: Tensor) -> Tensor:
    """Logits from the adapter's output (the teacher's blocks 11..15, head and classifier)."""
    for block in net._blocks[net.adapter_blocks:]:
        h = block(h)
    h = net._swish(net._bn1(net._conv_head(h)))
    return net._fc(net._dropout(net._avg_pooling(h).flatten(1)))


def teacher_features(teacher: nn.Module, x: Tensor) -> Tuple[Tensor, Tensor]:
    """The teacher on normalized ``x (B, 3, 224, 224)``: (block-10 output (B, 112, 14, 14), logits)."""
    h = teacher._swish(teacher._bn0(teacher._conv_stem(x)))
    feats = None
    for i, block in enumerate(teacher._blocks):
        h = block(h)
        if i == FEATURE_BLOCK:
            feats = h
    h = teacher._swish(teacher._bn1(teacher._conv_head(h)))
    return feats, teacher._fc(teacher._dropout(teacher._avg_pooling(h).flatten(1)))


def crop_geometry(image_size: Tuple[int, int]) -> Tuple[Tuple[int, int], int, int]:
    """For an ``(H, W)`` image: the latent's resized size and the 14 x 14 crop's top/left, in cells."""
    h, w = image_size
    scale = RESIZE / min(h, w)
    rh, rw = max(CROP, round(h * scale)), max(CROP, round(w * scale))
    size = (round(rh / STRIDE), round(rw / STRIDE))
    side = CROP // STRIDE
    return size, (size[0] - side) // 2, (size[1] - side) // 2


def preprocess_latent(y_hat: Tensor, image_size: Tuple[int, int]) -> Tensor:
    """``y_hat (B, M, h, w)`` of an ``image_size`` image -> ``(B, M, 14, 14)`` (module docstring)."""
    import math

    valid = (min(y_hat.shape[-2], math.ceil(image_size[0] / STRIDE)), min(y_hat.shape[-1], math.ceil(image_size[1] / STRIDE)))
    y = y_hat[..., : valid[0], : valid[1]]
    size, top, left = crop_geometry(image_size)
    if size != tuple(y.shape[-2:]):
        y = F.interpolate(y, size=size, mode="bilinear", align_corners=False, antialias=True)
    side = CROP // STRIDE
    return y[..., top : top + side, left : left + side]


class LatentTaskModel(nn.Module):
    """A task model whose input is a codec's latent, not an image.

    Args:
        net: a :func:`latent_network` (or its spiking conversion): ``(B, M, 14, 14) -> logits``.
        name: registry name; ``labels``: class names, one per logit.
        codec: the codec whose latent it reads; ``codec_weights_id``: the hash of that codec's
            weights (a latent of other weights is refused: retrain with ``hmxai train latent``).
        channels: the latent's width ``M``.
        weights: where the weights came from, for reports.
    """

    reads = "latent"

    def __init__(self, net: nn.Module, name: str, labels: Sequence[str], codec: str, codec_weights_id: Optional[str],
                 channels: int, weights: str = "user"):
        super().__init__()
        self.net, self.name, self.labels = net, name, tuple(labels)
        self.codec, self.codec_weights_id, self.channels, self.weights = codec, codec_weights_id, channels, weights
        self.training = False  # as TaskModel: calls run the network in eval mode

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def check(self, codec: str, weights_id: Optional[str], y_hat: Tensor) -> None:
        """Refuse a latent this model was not trained on, with a message that says what to do."""
        if y_hat is None:
            raise LatentInputError(f"{self.name} reads a learned codec's latent; {codec!r} has none "
                                   f"(classical codecs code pixels): use the codec {self.codec!r}")
        if codec != self.codec:
            raise LatentInputError(f"{self.name} reads {self.codec!r} latents, not {codec!r}'s")
        if self.codec_weights_id is not None and weights_id is not None and weights_id != self.codec_weights_id:
            raise LatentInputError(f"{self.name} was trained on {self.codec} weights {self.codec_weights_id}, "
                                   f"this latent comes from weights {weights_id}: retrain it (hmxai train latent)")
        if y_hat.dim() != 4 or y_hat.shape[1] != self.channels:
            raise LatentInputError(f"{self.name} reads (B, {self.channels}, h, w) latents, got {tuple(y_hat.shape)}")
        if not torch.isfinite(y_hat).all():
            raise LatentInputError(f"{self.name}: the latent holds NaN or infinite values")

    def forward(self, y_hat: Tensor, image_size: Tuple[int, int]) -> Tensor:
        """``y_hat (B, M, h, w)`` of ``image_size`` images -> logits ``(B, num_classes)``."""
        y = preprocess_latent(y_hat.float(), image_size)
        if self.training:
            return self.net(y)
        with eval_mode(self.net):
            return self.net(y)

    def latent_of(self, source) -> Tuple[Tensor, Tuple[int, int]]:
        """``(y_hat, image_size)`` of a :class:`~hmxai.types.Rung` or :class:`~hmxai.types.LatentResult`,
        checked (codec, weights, width)."""
        if hasattr(source, "metrics"):  # a Rung
            latent = source.latent
            self.check(source.codec, source.weights_id, None if latent is None else latent.y_hat)
            return latent.y_hat, tuple(latent.image_size)
        if hasattr(source, "y_hat"):
            self.check(source.codec, None, source.y_hat)
            return source.y_hat, tuple(source.image_size)
        raise InvalidArgumentError(f"{self.name} takes a Rung or a LatentResult, got {type(source).__name__}")

    @torch.no_grad()
    def predict(self, source, k: int = 5) -> List[Prediction]:
        """Top-k of a rung's (or a latent result's) latent."""
        y_hat, size = self.latent_of(source)
        return self.top_k(self(y_hat, size), k)

    def top_k(self, logits: Tensor, k: int = 5) -> List[Prediction]:
        from hmxai.tasks.base import TaskModel

        return TaskModel.top_k(self, logits, k)

    def describe(self) -> dict:
        return {"task": self.name, "reads": "latent", "codec": self.codec, "codec_weights_id": self.codec_weights_id,
                "channels": self.channels, "weights": self.weights, "classes": self.num_classes,
                "parameters": sum(p.numel() for p in self.net.parameters())}
