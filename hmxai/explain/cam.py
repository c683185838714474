"""Class-activation maps on the original and on every decoded image of a rate ladder, in one pass.

>>> ladder = cam_ladder(x, "jpeg", [10, 30, 70], method="grad-cam")
>>> ladder.maps            # (1 + rates, H, W) raw signed maps: row 0 the original
>>> ladder.drift()         # per rate: rank correlation, top-10 % IoU with the original's map, class changed

Methods (:data:`CAM_METHODS`), both captum layer attributions on the task's ``target_layer``:

* ``grad-cam`` (Selvaraju et al. 2017): channel weights = spatial mean of the gradient,
  map = sum of weighted activations (captum ``LayerGradCam``);
* ``hires-cam`` (Draelos & Carin 2020): map = sum over channels of gradient x activation,
  element-wise (captum ``LayerGradientXActivation``), faithful to the layer's first-order effect.

Maps are kept raw and signed (before the ReLU that drawings apply), upsampled bilinearly to
the image size. The explained class is the task's top-1 on the original for every rate, so
maps at different rates answer the same question. Any task model with a target layer works,
including the spiking ones (they expose ``target_layer`` like every :class:`TaskModel`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from hmxai.explain.objective import eval_mode, spearman
from hmxai.registry import Registry

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
        raise ValueError(f"task {task.name!r} has no target layer: give wrap_task(..., target_layer=...)")
    fn = CAM_METHODS.entry(method).factory
    with eval_mode(task), torch.enable_grad():
        raw = fn(task, layer, images.detach().clone().requires_grad_(True), target)
    return F.interpolate(raw.detach().float(), size=images.shape[-2:], mode="bilinear", align_corners=False)[:, 0]


def topk_mask(m: Tensor, fraction: float) -> Tensor:
    """Boolean mask of the ``fraction`` highest values of ``m`` (ties broken by position)."""
    flat = m.flatten()
    k = max(1, round(fraction * flat.numel()))
    mask = torch.zeros_like(flat, dtype=torch.bool)
    mask[torch.argsort(flat, descending=True, stable=True)[:k]] = True
    return mask.view_as(m)


@dataclass(frozen=True)
class CamLadder:
    """CAMs of one image and its decoded versions (row 0 = the original)."""

    method: str
    codec: str
    qualities: Tuple[int, ...]
    target: int
    target_label: str
    maps: Tensor  # (1 + R, H, W) raw signed
    images: Tensor  # (1 + R, 3, H, W)
    predictions: Tuple[int, ...]  # top-1 of each row
    bpp: Tuple[float, ...]  # measured, per rate
    psnr: Tuple[float, ...]

    def drift(self, top: float = 0.1) -> List[dict]:
        """Per rate: Spearman of the positive maps, IoU of their top ``top`` fraction, class changed."""
        ref = self.maps[0].clamp(min=0)
        rows = []
        for i, q in enumerate(self.qualities, start=1):
            m = self.maps[i].clamp(min=0)
            a, b = topk_mask(ref, top), topk_mask(m, top)
            rows.append({"quality": q, "bpp": self.bpp[i - 1], "psnr": self.psnr[i - 1],
                         "spearman": spearman(ref, m), f"top{round(100 * top)}_iou": float((a & b).sum() / (a | b).sum()),
                         "class_changed": self.predictions[i] != self.predictions[0]})
        return rows

    def shared_scale(self) -> float:
        """One colour limit for every map of the ladder (max of the positive parts)."""
        return float(self.maps.clamp(min=0).max()) or 1.0


def cam_ladder(image, codec: Union[str, object], qualities: Sequence[int], task=None, *,
               method: str = "grad-cam", target: Optional[int] = None) -> CamLadder:
    """Compress ``image`` at each quality (real bytes), decode, and compute every CAM in one batched pass."""
    from hmxai.codecs import create_codec
    from hmxai.images import load_image
    from hmxai.metrics import psnr
    from hmxai.pipeline import resolve_task

    task = resolve_task(task)
    x = load_image(image)
    if x.shape[0] != 1:
        raise ValueError("cam_ladder explains one image: x must be (1, 3, H, W)")
    decoded, bpp, quality = [], [], []
    for q in qualities:
        c = create_codec(codec, quality=q) if isinstance(codec, str) else codec
        if not isinstance(codec, str) and q != codec.quality:
            raise ValueError("give a codec name to sweep qualities (a codec object has one quality)")
        encoded, x_hat, _, _ = c.roundtrip(x)
        decoded.append(x_hat)
        bpp.append(encoded.measured_bpp)
        quality.append(q)
    batch = torch.cat([x] + decoded)
    with eval_mode(task), torch.no_grad():
        preds = task(batch).argmax(-1).tolist()
    target = preds[0] if target is None else int(target)
    if not 0 <= target < task.num_classes:
        raise ValueError(f"target {target} is not a class of the task (0..{task.num_classes - 1})")
    maps = cam_maps(task, batch, target, method)
    name = codec if isinstance(codec, str) else codec.name
    return CamLadder(method, name, tuple(quality), target, task.labels[target], maps, batch, tuple(preds),
                     tuple(bpp), tuple(float(psnr(x, d)) for d in decoded))
