"""Class-activation maps on the original and on every decoded image of a rate ladder, in one pass.

>>> ladder = rate_ladder(x, "jpeg", [10, 30, 70])
>>> cam = explain_cam(ladder, method="grad-cam")
>>> cam.maps               # (1 + rates, H, W) raw signed maps: row 0 the original
>>> drift(ladder, cam)     # per rate: rank correlation, top-10 % IoU, class changed

Methods (:data:`CAM_METHODS`), both captum layer attributions on the task's ``target_layer``:

* ``grad-cam`` (Selvaraju et al. 2017): channel weights = spatial mean of the gradient,
  map = sum of weighted activations (captum ``LayerGradCam``);
* ``hires-cam`` (Draelos & Carin 2020): map = sum over channels of gradient x activation,
  element-wise (captum ``LayerGradientXActivation``), faithful to the layer's first-order effect.

Maps are kept raw and signed (before the ReLU that drawings apply) and mapped back to image
pixels through the task's own resize and center crop (:meth:`TaskModel.to_image`): the part of
the image the network never saw gets 0. The explained class is the task's top-1 on the original for every rate, so
maps at different rates answer the same question. Any task model with a target layer works,
including the spiking ones (they expose ``target_layer`` like every :class:`TaskModel`).
"""

from __future__ import annotations

import time
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from hmxai.errors import InvalidArgumentError
from hmxai.explain.common import eval_mode, resolve_target
from hmxai.registry import Registry
from hmxai.types.ladder import PixelExplanation, RateLadder

CAM_METHODS: Registry[Callable] = Registry("cam method")


def _grad_cam(task, layer, x: Tensor, target: int) -> Tensor:
    from captum.attr import LayerGradCam

    return LayerGradCam(task, layer).attribute(x, target=target, relu_attributions=False)


def _hires_cam(task, layer, x: Tensor, target: int) -> Tensor:
    from captum.attr import LayerGradientXActivation

    return LayerGradientXActivation(task, layer).attribute(x, target=target).sum(dim=1, keepdim=True)


CAM_METHODS.register("grad-cam", _grad_cam, "Grad-CAM: gradient-weighted activations (captum LayerGradCam)")
CAM_METHODS.register("hires-cam", _hires_cam, "HiResCAM: element-wise gradient x activation, summed over channels")


def cam_maps(task, images: Tensor, target: int, method: str = "grad-cam") -> Tensor:
    """Raw signed maps ``(B, H, W)`` of ``images: (B, 3, H, W)`` for class ``target``, one batched pass."""
    layer = task.target_layer
    if layer is None:
        raise InvalidArgumentError(f"task {task.name!r} has no target layer: give wrap_task(..., target_layer=...)")
    fn = CAM_METHODS.entry(method).factory
    with eval_mode(task), torch.enable_grad():
        raw = fn(task, layer, images.detach().clone().requires_grad_(True), target)
    raw = raw.detach().float()
    if hasattr(task, "to_image"):  # through the task's resize and crop, back to image pixels
        return task.to_image(raw, tuple(images.shape[-2:]))[:, 0]
    return F.interpolate(raw, size=images.shape[-2:], mode="bilinear", align_corners=False)[:, 0]


def topk_mask(m: Tensor, fraction: float) -> Tensor:
    """Boolean mask of the ``fraction`` highest values of ``m`` (ties broken by position)."""
    flat = m.flatten()
    k = max(1, round(fraction * flat.numel()))
    mask = torch.zeros_like(flat, dtype=torch.bool)
    mask[torch.argsort(flat, descending=True, stable=True)[:k]] = True
    return mask.view_as(m)



def explain_cam(ladder: RateLadder, task=None, *, method: str = "grad-cam",
                target: Optional[int] = None) -> PixelExplanation:
    """CAMs of ``target`` on every row of ``ladder``: one batched forward and backward pass for the
    maps, one batched forward for the target's probabilities."""
    task, target = resolve_target(ladder, task, target)
    start = time.perf_counter()
    maps = cam_maps(task, ladder.images, target, method)
    with eval_mode(task), torch.no_grad():
        probs = torch.softmax(task(ladder.images).float(), dim=-1)[:, target]
    return PixelExplanation(method=method, target=target, target_label=task.labels[target], maps=maps,
                            probabilities=tuple(probs.tolist()), seconds=time.perf_counter() - start)
