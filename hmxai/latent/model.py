"""A classifier that reads a learned codec's quantized latent: no image, no first layers of the ANN.

Torfason et al. (ICLR 2018) classify from the latent a learned codec transmits, skipping the
decoder (or most of it) and the first layers of the vision network. hmxai's version distills
EfficientNet-Lite0 (the teacher) into a network on ``y_hat``::

    y_hat (B, M, h, w) at 1/16 of the image
      --front: the codec's first ``stages`` synthesis layers (frozen; none for stages=0)-->
      features at stride s = 16 / 2^stages --geometry of the teacher's crop, /s--> (B, C, 224/s, 224/s)
      --stem 3x3 + adapter MBConv blocks--> the teacher's output at stride s (block 10 at s = 16,
      block 4 at s = 8, block 2 at s = 4) --the teacher's later blocks, head, classifier--> logits

Two adapters (``adapter`` in :class:`~hmxai.train.latent_config.LatentConfig`):

- ``mbconv``: a 3x3 stem and MBConv blocks, trained from scratch, from the front's output to the
  teacher's. Measured: it does not generalize from the ~1,900 training images (docs/latent.md).
- ``synthesis`` (the shipped design): the codec's *remaining* synthesis layers, copied and
  fine-tuned, run on the crop only (:class:`CropSynthesis`), then the teacher's input
  normalization and the whole EfficientNet (its stem and first blocks fine-tuned with them).
  With ``stages=2`` the front runs ``g_s``'s first two layers on the full latent (stride 4) and
  the adapter its last two on the 56 x 56 crop of the resized features: it forms a 224 x 224
  input but never the full-resolution image, so it runs at about a quarter of the decoder's
  cost on a 375 x 500 image.

The network after the adapter is EfficientNet-shaped (``_conv_stem``, ``_bn0``, ``_blocks``,
``_conv_head``, ``_bn1``, ``_fc``; ReLU6, no squeeze-excitation), so
:class:`~hmxai.spiking.network.SpikingEfficientNet` converts it like the image network.

**Geometry.** The image task resizes the image so its shorter side is 256 pixels and takes the
centred 224 x 224 crop. The latent task does the same at stride ``s``: the features of the
image's valid area are resized (bilinear, antialiased) so their shorter side is ``256 / s``, and
the centred ``224 / s`` square is kept, so each cell covers what one stride-``s`` cell of the
teacher sees.
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

#: per stride of the adapter's input: the teacher's block whose output it imitates
FEATURE_BLOCKS = {16: 10, 8: 4, 4: 2}
#: the adapters :func:`student_of` builds (module docstring)
ADAPTERS = ("mbconv", "synthesis")
#: stride of the latent itself
STRIDE = 16
RESIZE, CROP = 256, 224


def stride_of(stages: int) -> int:
    """Stride of the front's output after ``stages`` synthesis layers (0: the latent, 16)."""
    if stages not in (0, 1, 2):
        raise InvalidArgumentError(f"stages (synthesis layers run before the adapter) must be 0, 1 or 2, got {stages!r}")
    return STRIDE >> stages


class LatentInputError(InvalidArgumentError):
    """A latent the latent task cannot read: a classical codec, another codec, another width."""


def latent_network(teacher: nn.Module, channels: int, adapter_blocks: int = 3, expand: int = 6,
                   kernel: int = 5, seed: int = 0, stride: int = STRIDE, width: Optional[int] = None) -> nn.Module:
    """An EfficientNet-Lite whose stem and blocks up to the teacher's stride-``stride`` output are
    replaced by an adapter from ``channels``-wide features at that stride (see the module's
    docstring). The rest is copied from ``teacher`` (an ``efficientnet_lite_pytorch.EfficientNet``,
    not changed); the adapter is seeded. ``width``: the stem's output channels (default the
    teacher block's)."""
    from efficientnet_lite_pytorch.model import MBConvBlock
    from efficientnet_lite_pytorch.utils import BlockArgs

    if adapter_blocks < 1:
        raise InvalidArgumentError(f"adapter_blocks must be at least 1, got {adapter_blocks}")
    if stride not in FEATURE_BLOCKS:
        raise InvalidArgumentError(f"stride must be one of {sorted(FEATURE_BLOCKS)}, got {stride!r}")
    block = FEATURE_BLOCKS[stride]
    net = copy.deepcopy(teacher)
    out = teacher._blocks[block]._block_args.output_filters
    width = width or out
    params = teacher._global_params._replace(drop_connect_rate=0.0)
    net._global_params = params
    side = CROP // stride
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net._conv_stem = nn.Conv2d(channels, width, 3, padding=1, bias=False)
        net._bn0 = nn.BatchNorm2d(width, momentum=1 - params.batch_norm_momentum, eps=params.batch_norm_epsilon)
        adapter = []
        for i in range(adapter_blocks):
            args = BlockArgs(num_repeat=1, kernel_size=kernel, stride=1, expand_ratio=expand,
                             input_filters=width if i == 0 else out, output_filters=out, se_ratio=None, id_skip=True)
            adapter.append(MBConvBlock(args, params, image_size=[side, side]))
    net._blocks = nn.ModuleList(adapter + [copy.deepcopy(b) for b in teacher._blocks[block + 1:]])
    net.adapter_blocks, net.stride = adapter_blocks, stride
    return net


def synthesis_network(teacher: nn.Module, stride: int = 4) -> nn.Module:
    """The teacher copied whole, for the ``synthesis`` adapter: its input is a 224 x 224 normalized
    image-like tensor; ``adapter_blocks`` counts the blocks up to the one that matches the teacher's
    stride-``stride`` output (the ones fine-tuned with the synthesis layers)."""
    if stride not in FEATURE_BLOCKS:
        raise InvalidArgumentError(f"stride must be one of {sorted(FEATURE_BLOCKS)}, got {stride!r}")
    net = copy.deepcopy(teacher)
    net._global_params = teacher._global_params._replace(drop_connect_rate=0.0)
    net.adapter_blocks, net.stride = FEATURE_BLOCKS[stride] + 1, stride
    return net


class CropSynthesis(nn.Module):
    """The codec's synthesis layers after the front (a trainable copy), run on the teacher's crop,
    then the teacher's input normalization: features at stride ``s`` -> ``(B, 3, 224, 224)``."""

    def __init__(self, layers: nn.Module, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.layers = layers
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def __len__(self) -> int:
        return len(self.layers)

    def forward(self, y: Tensor) -> Tensor:
        return (self.layers(y) - self.mean) / self.std


def synthesis_of(codec, stages: int, mean: Sequence[float], std: Sequence[float]) -> CropSynthesis:
    """The codec's synthesis layers after the first ``stages``, copied (trainable) into a :class:`CropSynthesis`."""
    stride_of(stages)
    return CropSynthesis(copy.deepcopy(nn.Sequential(*list(codec.model.g_s)[2 * stages:])), mean, std)


def front_of(codec, stages: int) -> nn.Module:
    """The codec's first ``stages`` synthesis layers (each a transposed convolution and its inverse
    GDN), copied and frozen: what runs between the latent and the adapter."""
    stride_of(stages)
    front = copy.deepcopy(nn.Sequential(*list(codec.model.g_s)[: 2 * stages])).eval()
    front.requires_grad_(False)
    return front


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


def teacher_features(teacher: nn.Module, x: Tensor, stride: int = STRIDE) -> Tuple[Tensor, Tensor]:
    """The teacher on normalized ``x (B, 3, 224, 224)``: (its output at ``stride``, the block of
    :data:`FEATURE_BLOCKS` (e.g. (B, 24, 56, 56) at stride 4), logits)."""
    h = teacher._swish(teacher._bn0(teacher._conv_stem(x)))
    feats = None
    for i, block in enumerate(teacher._blocks):
        h = block(h)
        if i == FEATURE_BLOCKS[stride]:
            feats = h
    h = teacher._swish(teacher._bn1(teacher._conv_head(h)))
    return feats, teacher._fc(teacher._dropout(teacher._avg_pooling(h).flatten(1)))


def crop_geometry(image_size: Tuple[int, int], stride: int = STRIDE) -> Tuple[Tuple[int, int], int, int]:
    """For an ``(H, W)`` image: the features' resized size and the crop's top/left, in cells of ``stride``."""
    h, w = image_size
    scale = RESIZE / min(h, w)
    rh, rw = max(CROP, round(h * scale)), max(CROP, round(w * scale))
    size = (round(rh / stride), round(rw / stride))
    side = CROP // stride
    return size, (size[0] - side) // 2, (size[1] - side) // 2


def preprocess_latent(y: Tensor, image_size: Tuple[int, int], stride: int = STRIDE) -> Tensor:
    """Features ``y (B, C, h, w)`` at ``stride`` of an ``image_size`` image -> ``(B, C, 224/s, 224/s)``
    (module docstring): the valid area, resized, centre-cropped."""
    import math

    valid = (min(y.shape[-2], math.ceil(image_size[0] / stride)), min(y.shape[-1], math.ceil(image_size[1] / stride)))
    y = y[..., : valid[0], : valid[1]]
    size, top, left = crop_geometry(image_size, stride)
    if size != tuple(y.shape[-2:]):
        y = F.interpolate(y, size=size, mode="bilinear", align_corners=False, antialias=True)
    side = CROP // stride
    return y[..., top : top + side, left : left + side]


class LatentTaskModel(nn.Module):
    """A task model whose input is a codec's latent, not an image.

    Args:
        net: a :func:`latent_network` (or its spiking conversion): preprocessed features -> logits.
        front: the codec's synthesis layers run before the adapter (:func:`front_of`; empty: none).
        synthesis: the fine-tuned synthesis layers run on the crop (:class:`CropSynthesis`; empty:
            none, the ``mbconv`` adapter).
        name: registry name; ``labels``: class names, one per logit.
        codec: the codec whose latent it reads; ``codec_weights_id``: the hash of that codec's
            weights (a latent of other weights is refused: retrain with ``hmxai train latent``).
        channels: the latent's width ``M``.
        weights: where the weights came from, for reports.
    """

    reads = "latent"

    def __init__(self, net: nn.Module, name: str, labels: Sequence[str], codec: str, codec_weights_id: Optional[str],
                 channels: int, weights: str = "user", front: Optional[nn.Module] = None, stride: int = STRIDE,
                 synthesis: Optional[nn.Module] = None):
        super().__init__()
        self.net, self.name, self.labels = net, name, tuple(labels)
        self.front = front if front is not None else nn.Sequential()
        self.synthesis = synthesis if synthesis is not None else nn.Sequential()
        self.stride = stride
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

    def features(self, y_hat: Tensor, image_size: Tuple[int, int]) -> Tensor:
        """The network's input: ``y_hat`` through the front, the crop geometry and the crop's synthesis layers."""
        with eval_mode(self.synthesis):
            return self.synthesis(preprocess_latent(self.front(y_hat.float()), image_size, self.stride))

    def forward(self, y_hat: Tensor, image_size: Tuple[int, int]) -> Tensor:
        """``y_hat (B, M, h, w)`` of ``image_size`` images -> logits ``(B, num_classes)``."""
        y = self.features(y_hat, image_size)
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
                "channels": self.channels, "synthesis_layers_run": (len(self.front) + len(self.synthesis)) // 2,
                "synthesis_layers_trained": len(self.synthesis) // 2, "stride": self.stride, "weights": self.weights, "classes": self.num_classes,
                "parameters": sum(p.numel() for p in self.net.parameters())}
