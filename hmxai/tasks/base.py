"""The task-model contract: an ``nn.Module`` from [0, 1] images to logits.

Everything a classifier needs before its first layer happens inside
:meth:`TaskModel.forward`, differentiably (so gradient explanations reach
the decoded pixels):

1. resize so the shorter side is ``resize`` pixels (bilinear, antialiased),
2. center-crop to ``input_size`` x ``input_size``,
3. normalize with the model's ``mean`` and ``std``.

Set ``resize=None`` to skip steps 1 and 2 (the input is then used as is).
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hmxai.errors import InvalidArgumentError
from hmxai.images import check_batch
from hmxai.modes import eval_mode
from hmxai.types import Prediction


class TaskModel(nn.Module):
    """A classifier wrapped for hmxai.

    Args:
        net: the network; receives normalized ``(B, 3, input_size, input_size)``.
        name: registry name (``efficientnet-lite0``, ``custom``, ...).
        labels: class names, one per logit.
        mean, std: per-channel normalization the network was trained with.
        input_size: side of the center crop; None with ``resize=None``.
        resize: shorter side after resizing, or None for no resize/crop.
        target_layer: dotted path (inside ``net``) of the default Grad-CAM layer.
        weights: where the weights came from, for reports.
    """

    def __init__(
        self,
        net: nn.Module,
        name: str,
        labels: Sequence[str],
        mean: Sequence[float] = (0.0, 0.0, 0.0),
        std: Sequence[float] = (1.0, 1.0, 1.0),
        input_size: Optional[int] = 224,
        resize: Optional[int] = 256,
        target_layer: Optional[str] = None,
        weights: str = "user",
    ):
        super().__init__()
        self.net = net
        self.name = name
        self.labels = tuple(str(v) for v in labels)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))
        self.input_size = input_size
        self.resize = resize
        self.target_layer_name = target_layer
        self.weights = weights
        if target_layer is not None:
            net.get_submodule(target_layer)  # fail now, not at explanation time
        # the wrapper (not the user's network) is in inference mode: calls switch ``net`` to eval
        # for their length and restore every submodule's own mode; ``train()`` turns that off
        self.training = False

    def crop_geometry(self, h: int, w: int) -> Optional[Tuple[Tuple[int, int], int, int]]:
        """For an ``h x w`` image: the resized size and the crop's top/left corner in it (None: no resize)."""
        if self.resize is None:
            return None
        scale = self.resize / min(h, w)
        size = (max(self.input_size, round(h * scale)), max(self.input_size, round(w * scale)))
        return size, (size[0] - self.input_size) // 2, (size[1] - self.input_size) // 2

    def preprocess(self, x: Tensor) -> Tensor:
        """(B, 3, H, W) in [0, 1] -> (B, 3, S, S) normalized network input."""
        geometry = self.crop_geometry(*x.shape[-2:])
        if geometry is not None:
            size, top, left = geometry
            if size != tuple(x.shape[-2:]):
                x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
            x = x[..., top : top + self.input_size, left : left + self.input_size]
        return (x - self.mean) / self.std

    def to_image(self, maps: Tensor, image_size: Tuple[int, int]) -> Tensor:
        """Maps over the network input ``(B, C, h, w)`` -> ``(B, C, H, W)`` over the image.

        Undoes the preprocessing geometrically: upsample to the crop, place the crop in the
        resized frame (zero where the network saw nothing), resize the frame to the image.
        """
        geometry = self.crop_geometry(*image_size)
        if geometry is None:
            return F.interpolate(maps, size=image_size, mode="bilinear", align_corners=False)
        size, top, left = geometry
        crop = F.interpolate(maps, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False)
        frame = maps.new_zeros(maps.shape[:2] + tuple(size))
        frame[..., top : top + self.input_size, left : left + self.input_size] = crop
        return F.interpolate(frame, size=image_size, mode="bilinear", align_corners=False)

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, 3, H, W) float in [0, 1] -> logits (B, num_classes).

        In inference mode (the default) the network runs in eval mode for this call only; its
        modules' own modes are restored afterwards, so wrapping a network never changes it.
        """
        if self.training:
            return self.net(self.preprocess(x))
        with eval_mode(self.net):
            return self.net(self.preprocess(x))

    @property
    def target_layer(self) -> Optional[nn.Module]:
        """The default layer for Grad-CAM, or None if the wrapper was given none."""
        if self.target_layer_name is None:
            return None
        return self.net.get_submodule(self.target_layer_name)

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    @torch.no_grad()
    def predict(self, x: Tensor, k: int = 5) -> List[Prediction]:
        """Top-k classes and softmax probabilities for each image of the batch."""
        check_batch(x)
        return self.top_k(self(x.float()), k)

    def top_k(self, logits: Tensor, k: int = 5) -> List[Prediction]:
        """Top-k classes and softmax probabilities from logits ``(B, num_classes)`` of this model."""
        if logits.shape[-1] != self.num_classes:
            raise InvalidArgumentError(
                f"{self.name}: the network gives {logits.shape[-1]} logits "
                f"but has {self.num_classes} labels"
            )
        probs = F.softmax(logits.double(), dim=-1)
        top = probs.topk(min(k, probs.shape[-1]), dim=-1)
        return [
            Prediction(
                labels=tuple(self.labels[i] for i in idx.tolist()),
                indices=tuple(idx.tolist()),
                probabilities=tuple(p.tolist()),
            )
            for p, idx in zip(top.values, top.indices)
        ]

    def describe(self) -> dict:
        return {
            "task": self.name,
            "weights": self.weights,
            "classes": self.num_classes,
            "input_size": self.input_size,
            "resize": self.resize,
            "mean": [round(v, 4) for v in self.mean.flatten().tolist()],
            "std": [round(v, 4) for v in self.std.flatten().tolist()],
            "target_layer": self.target_layer_name,
            "parameters": sum(p.numel() for p in self.net.parameters()),
        }


def wrap_task(
    module: nn.Module,
    labels: Optional[Sequence[str]] = None,
    *,
    num_classes: Optional[int] = None,
    mean: Sequence[float] = (0.0, 0.0, 0.0),
    std: Sequence[float] = (1.0, 1.0, 1.0),
    input_size: Optional[int] = None,
    resize: Optional[int] = None,
    target_layer: Optional[str] = None,
    name: str = "custom",
) -> TaskModel:
    """Wrap any user ``nn.Module`` (normalized images -> logits) as a :class:`TaskModel`.

    Without ``labels``, classes are named ``class 0``, ``class 1``, ... (give
    ``num_classes``). By default the image is passed unresized and unnormalized.
    """
    if labels is None:
        if num_classes is None:
            raise InvalidArgumentError("wrap_task needs labels=... or num_classes=...")
        labels = [f"class {i}" for i in range(num_classes)]
    if (input_size is None) != (resize is None):
        raise InvalidArgumentError("give both input_size and resize, or neither")
    return TaskModel(module, name, labels, mean, std, input_size, resize, target_layer, "user")
