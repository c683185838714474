"""Where the bits go: the per-position bit map beside the machine's attention and the human's error.

The machine's pixel attribution is captum ``InputXGradient`` of the target logit on the
*decoded* image (what the machine actually sees), summed over colour. To compare it with
the bits, ``|attribution|`` is summed over each latent cell (16x16 pixels for the
hyperprior models); the rank correlation with the bits per position uses its mean over the
cell's in-image pixels (cells cut by the image border are not biased low).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from hmxai.codecs import DEFAULT_LEARNED_CODEC
from hmxai.errors import InvalidArgumentError
from hmxai.explain.common import eval_mode, spearman
from hmxai.explain.objective import given_latent, require_latent
from hmxai.types import SpatialMaps


def where_bits_go(image, codec=DEFAULT_LEARNED_CODEC, task=None, *, quality: Optional[int] = None,
                  target: Optional[int] = None, latent=None) -> SpatialMaps:
    """Bit maps of ``y`` (and ``z``), machine attribution and error map of one image.

    ``latent``: the image's :class:`~hmxai.types.LatentResult` under ``codec``, or the
    :class:`~hmxai.types.Rung` that holds it (:func:`hmxai.decode`'s), so that a caller who has the
    rung does not analyse the image again; ``None``: analysed here."""
    from captum.attr import InputXGradient

    from hmxai.images import load_image
    from hmxai.pipeline import resolve_models

    codec, task = resolve_models(codec, quality, task)
    require_latent(codec)
    x = load_image(image)  # one image: load_image refuses batches
    latent = given_latent(latent, codec, x)
    with eval_mode(codec.model, task):
        if latent is None:
            latent = codec.analyze(x)
        x_hat = latent.x_hat
        with torch.no_grad():
            logits = task(x)
        target = int(logits.argmax(-1)) if target is None else int(target)
        if not 0 <= target < logits.shape[-1]:
            raise InvalidArgumentError(f"target {target} is not a class of the task (0..{logits.shape[-1] - 1})")
        with torch.enable_grad():
            attr = InputXGradient(task).attribute(x_hat.clone().requires_grad_(True), target=target)
    machine = attr.detach()[0].sum(0).double()
    error = (x_hat - x)[0].pow(2).mean(0).double()
    bits_y = latent.bits_per_position[0].detach()
    h, w = bits_y.shape
    ph, pw = latent.padded_size
    cell = ph // h

    def cell_sums(m):  # (H, W) -> (h, w) sums over each latent cell; padding adds nothing
        padded = F.pad(m[None, None], (0, pw - m.shape[1], 0, ph - m.shape[0]))
        return F.avg_pool2d(padded, cell)[0, 0] * cell * cell

    on_grid = cell_sums(machine.abs())
    # agreement on per-pixel means over each cell's in-image pixels, so that edge cells
    # cut by the image border are not biased low
    count = cell_sums(torch.ones_like(error)).clamp(min=1)
    machine_density, err_grid = on_grid / count, cell_sums(error) / count
    inside_h, inside_w = -(-machine.shape[0] // cell), -(-machine.shape[1] // cell)
    side = latent.side_bits_per_position
    return SpatialMaps(
        bits_y=bits_y,
        bits_z=None if side is None else side[0].detach(),
        machine=machine,
        error=error,
        machine_on_grid=on_grid,
        agreement=spearman(bits_y[:inside_h, :inside_w], machine_density[:inside_h, :inside_w]),
        error_agreement=spearman(bits_y[:inside_h, :inside_w], err_grid[:inside_h, :inside_w]),
        target=target,
        target_label=task.labels[target],
        x_hat=x_hat.detach(),
        cell=cell,
    )
