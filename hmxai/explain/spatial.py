"""Where the bits go: the per-position bit map beside the machine's attention and the human's error.

The machine's pixel attribution is captum ``InputXGradient`` of the target logit on the
*decoded* image (what the machine actually sees), summed over colour. To compare it with
the bits, ``|attribution|`` is summed over each latent cell (16x16 pixels for the
hyperprior models) and rank-correlated with the bits per position.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from hmxai.explain.objective import eval_mode, require_latent, spearman
from hmxai.types import SpatialMaps


def where_bits_go(image, codec="hmxai-msh", task=None, *, quality: Optional[int] = None,
                  target: Optional[int] = None) -> SpatialMaps:
    """Bit maps of ``y`` (and ``z``), machine attribution and error map of one image."""
    from captum.attr import InputXGradient

    from hmxai.images import load_image
    from hmxai.pipeline import _resolve

    codec, task = _resolve(codec, quality, task)
    require_latent(codec)
    x = load_image(image)
    if x.shape[0] != 1:
        raise ValueError("where_bits_go takes one image: x must be (1, 3, H, W)")
    with eval_mode(codec.model, task):
        latent = codec.analyze(x)
        x_hat = latent.x_hat
        with torch.no_grad():
            reference = int(task(x).argmax(-1))
        target = reference if target is None else int(target)
        with torch.enable_grad():
            attr = InputXGradient(task).attribute(x_hat.clone().requires_grad_(True), target=target)
    machine = attr.detach()[0].sum(0).double()
    error = (x_hat - x)[0].pow(2).mean(0).double()
    bits_y = latent.bits_per_position[0].detach()
    h, w = bits_y.shape
    ph, pw = latent.padded_size
    cell = ph // h
    padded = F.pad(machine.abs()[None, None], (0, pw - machine.shape[1], 0, ph - machine.shape[0]))
    on_grid = F.avg_pool2d(padded, cell)[0, 0] * cell * cell
    err_grid = F.avg_pool2d(F.pad(error[None, None], (0, pw - error.shape[1], 0, ph - error.shape[0])), cell)[0, 0]
    inside_h, inside_w = -(-machine.shape[0] // cell), -(-machine.shape[1] // cell)
    side = latent.side_bits_per_position
    return SpatialMaps(
        bits_y=bits_y,
        bits_z=None if side is None else side[0].detach(),
        machine=machine,
        error=error,
        machine_on_grid=on_grid,
        agreement=spearman(bits_y[:inside_h, :inside_w], on_grid[:inside_h, :inside_w]),
        error_agreement=spearman(bits_y[:inside_h, :inside_w], err_grid[:inside_h, :inside_w]),
        target=target,
        target_label=task.labels[target],
        x_hat=x_hat.detach(),
        cell=cell,
    )
