"""Calibration of a converted network: per-channel thresholds from the ANN's activations.

Method (chosen by measurement, see ``docs/spiking.md``): run the ANN (batch norm folded, the
same network the SNN is built from) on calibration images of the codec training split, and set
each IF channel's threshold to the ``percentile`` (shipped: 1, the largest sampled value) of that channel's ReLU6 outputs over every
image and position (per-channel percentile threshold balancing; Rueckauer et al. 2017 use the
99.9th percentile per layer). A threshold never exceeds 6, where ReLU6 clips, and never falls
below ``MIN_THRESHOLD`` (a channel that is almost never active).

What ships (``efficientnet-lite0-snn.safetensors``) is only what the ANN's weights don't give:
the thresholds and the activation statistics behind them (per channel: the maximum, the mean,
the fraction of activations above the threshold), with the method, the images used and the
SHA-256 of the ANN's weights file in the metadata.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Dict, List, Optional

import torch
from torch import Tensor

from hmxai.errors import CheckpointError, InvalidArgumentError
from hmxai.spiking.network import RELU6

MIN_THRESHOLD = 1e-3
#: per channel, at most this many activations are kept (evenly strided) for the percentile
MAX_SAMPLES = 200_000
CALIBRATION_FORMAT = "hmxai-snn-calibration/1"


class CalibrationError(CheckpointError):
    """A calibration file is missing, truncated, tampered with, or for another network."""


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@torch.no_grad()
def activation_statistics(net, images: Tensor, batch: int = 16, progress: bool = True) -> Dict[str, Tensor]:
    """Per IF site, ``(C, n)`` ReLU6 outputs of the ANN on normalized ``images: (N, 3, S, S)``
    (each channel subsampled to at most :data:`MAX_SAMPLES` values, evenly strided)."""
    from tqdm.auto import tqdm

    chunks: Dict[str, List[Tensor]] = {}
    per_image = max(1, MAX_SAMPLES // max(1, images.shape[0]))

    def observe(name: str, current: Tensor) -> None:
        a = current.clamp(0.0, RELU6).transpose(0, 1).reshape(current.shape[1], current.shape[0], -1)
        step = max(1, a.shape[2] // per_image)
        chunks.setdefault(name, []).append(a[:, :, ::step].reshape(a.shape[0], -1))

    for i in tqdm(range(0, images.shape[0], batch), desc="calibration", disable=not progress):
        net.analog(images[i : i + batch], observe)
    return {name: torch.cat(parts, dim=1) for name, parts in chunks.items()}


def thresholds_from(stats: Dict[str, Tensor], percentile: float) -> Dict[str, Dict[str, Tensor]]:
    """Thresholds and statistics per site from :func:`activation_statistics`."""
    if not 0.5 < percentile <= 1.0:
        raise InvalidArgumentError(f"percentile must be in (0.5, 1], got {percentile!r}")
    out = {}
    for name, a in stats.items():
        k = max(1, min(a.shape[1], int(round(percentile * a.shape[1]))))
        theta = a.kthvalue(k, dim=1).values.clamp(MIN_THRESHOLD, RELU6)
        out[name] = {"threshold": theta, "max": a.max(dim=1).values, "mean": a.mean(dim=1),
                     "clipped": (a > theta[:, None]).float().mean(dim=1)}
    return out


@torch.no_grad()
def channel_means(net, images: Tensor, steps: Optional[int] = None, batch: int = 16) -> Dict[str, Tensor]:
    """Per IF site, the mean input current of each channel over ``images`` and positions: of the
    ANN (``steps=None``) or of the network quantized for ``T`` steps (``net.analog(steps=T)``)."""
    sums: Dict[str, Tensor] = {}
    count = 0

    def observe(name: str, current: Tensor) -> None:
        total = current.double().sum(dim=(0, 2, 3)) / (current.shape[2] * current.shape[3])
        sums[name] = sums[name] + total if name in sums else total

    for i in range(0, images.shape[0], batch):
        net.analog(images[i : i + batch], observe, steps=steps)
        count += images[i : i + batch].shape[0]
    return {name: (s / count).float() for name, s in sums.items()}


@torch.no_grad()
def bias_correction(net, images: Tensor, steps: int, batch: int = 16) -> Dict[str, Tensor]:
    """Bias correction for ``T = steps`` (Li et al., ICML 2021): site by site in network order, the
    mean error of each channel's input current (the ANN's minus the quantized network's, over
    ``images`` and every position) is added to the bias of the convolution feeding that site, so
    the quantization error of earlier layers does not shift later ones on average. Changes ``net``
    in place (thresholds must be set first); returns the corrections per site."""
    target = channel_means(net, images, None, batch)
    convs = net.linears()
    corrections: Dict[str, Tensor] = {}
    for name in net.sites():
        if name == "stem":  # reads the image itself: its current is the ANN's exactly
            continue
        delta = target[name] - _site_mean(net, images, steps, name, batch)
        convs[name].conv.bias.add_(delta)
        corrections[name] = delta
    return corrections


class _Stop(Exception):
    pass


@torch.no_grad()
def _site_mean(net, images: Tensor, steps: int, site: str, batch: int) -> Tensor:
    """The quantized network's mean input current at ``site`` (the pass stops there)."""
    total, n = None, 0

    def observe(name: str, current: Tensor) -> None:
        if name == site:
            raise _Stop(current.double().mean(dim=(0, 2, 3)) * current.shape[0])

    for i in range(0, images.shape[0], batch):
        try:
            net.analog(images[i : i + batch], observe, steps=steps)
        except _Stop as stop:
            total = stop.args[0] if total is None else total + stop.args[0]
        n += images[i : i + batch].shape[0]
    return (total / n).float()


def apply_thresholds(net, thresholds: Dict[str, Tensor]) -> None:
    """Set every IF layer's thresholds (checked: every site, the right size, finite and positive)."""
    sites = net.sites()
    missing, extra = set(sites) - set(thresholds), set(thresholds) - set(sites)
    if missing or extra:
        raise CalibrationError(f"calibration does not fit this network: missing {sorted(missing)[:3]}, "
                               f"unknown {sorted(extra)[:3]}")
    for name, neurons in sites.items():
        theta = thresholds[name]
        if theta.shape != neurons.threshold.shape:
            raise CalibrationError(f"calibration of {name} has shape {tuple(theta.shape)}, the layer "
                                   f"{tuple(neurons.threshold.shape)}")
        if not torch.isfinite(theta).all() or not (theta > 0).all():
            raise CalibrationError(f"calibration of {name} has thresholds that are not finite and positive")
    for name, neurons in sites.items():
        neurons.threshold.copy_(thresholds[name].float())


def save_calibration(path: Path, calibration: Dict[str, Dict[str, Tensor]], meta: dict) -> Path:
    """Write thresholds and statistics as safetensors, ``meta`` as JSON in its metadata."""
    from safetensors.torch import save_file

    tensors = {f"{kind}/{name}": t.float().contiguous() for name, d in calibration.items() for kind, t in d.items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    save_file(tensors, str(tmp), metadata={"format": CALIBRATION_FORMAT, "meta": json.dumps(meta)})
    tmp.chmod(0o644)
    tmp.replace(path)
    return path


def read_safetensors(path: Path, fmt: str, what: str):
    """(tensors, metadata JSON) of an hmxai safetensors file of format ``fmt``, read safely (no code
    runs); a missing, truncated or foreign file raises :class:`CalibrationError` naming ``what``."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise CalibrationError(f"{what} file {str(path)!r} is missing")
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CalibrationError(f"{what} file {str(path)!r} is truncated or not a safetensors file ({exc})") from None
    if header.get("format") != fmt:
        raise CalibrationError(f"{str(path)!r} is not an hmxai {what} file (format {header.get('format')!r})")
    try:
        meta = json.loads(header["meta"])
    except (KeyError, json.JSONDecodeError):
        raise CalibrationError(f"{str(path)!r} has no readable metadata") from None
    return tensors, meta


def load_calibration(path: Path, expect_ann_sha256: Optional[str] = None):
    """(thresholds per site, statistics per site, meta) from a calibration file, read safely
    (safetensors: no code runs). A missing, truncated or tampered file, or one made for other
    ANN weights, raises :class:`CalibrationError`."""
    tensors, meta = read_safetensors(path, CALIBRATION_FORMAT, "SNN calibration")
    if expect_ann_sha256 is not None and meta.get("ann_sha256") != expect_ann_sha256:
        raise CalibrationError(f"{str(path)!r} was calibrated for other ANN weights "
                               f"(sha256 {str(meta.get('ann_sha256'))[:12]}…, these are {expect_ann_sha256[:12]}…)")
    thresholds: Dict[str, Tensor] = {}
    stats: Dict[str, Dict[str, Tensor]] = {}
    for key, t in tensors.items():
        kind, _, name = key.partition("/")
        if kind == "threshold":
            thresholds[name] = t
        else:
            stats.setdefault(name, {})[kind] = t
    return thresholds, stats, meta


def calibration_indices(n: int, count: int) -> List[int]:
    """Positions of the ``count`` calibration images among ``n`` training images (evenly spaced;
    the 64 of a 64-image calibration are among the 128 of a 128-image one)."""
    return [i * n // count for i in range(count)]


def calibration_images(root, count: int = 64, task=None) -> "tuple[Tensor, List[str]]":
    """``count`` images evenly spaced over the codec training split's ImageNet part (600 images,
    one class each, sorted by wordnet id; never the held-out 150), preprocessed as the task
    does: (normalized batch, file names)."""
    from hmxai.datasets import data_root
    from hmxai.images import load_image
    from hmxai.train.data import imagenet_split

    train, _ = imagenet_split(data_root(root) / "imagenet-samples")
    if count > len(train):
        raise InvalidArgumentError(f"at most {len(train)} calibration images, asked for {count}")
    chosen = [train[i] for i in calibration_indices(len(train), count)]
    return torch.cat([task.preprocess(load_image(p)) for p in chosen]), [p.name for p in chosen]


def calibrate(root=None, count: int = 128, percentile: float = 1.0, out: Optional[Path] = None,
              progress: bool = True) -> Dict[str, object]:
    """Calibrate EfficientNet-Lite0's spiking twin on the training split and write the file.

    Returns the metadata written (what, from which images, how long)."""
    import time

    from hmxai import __version__
    from hmxai.spiking.network import SpikingEfficientNet
    from hmxai.tasks.classifiers import efficientnet_lite0, efficientnet_lite0_weights_path

    start = time.perf_counter()
    task = efficientnet_lite0()
    net = SpikingEfficientNet(task.net.eval())
    images, names = calibration_images(root, count, task=task)
    calibration = thresholds_from(activation_statistics(net, images, progress=progress), percentile)
    meta = {"method": "per-channel percentile of the ANN's ReLU6 outputs (threshold balancing)",
            "percentile": percentile, "images": names, "split": "imagenet-samples training part (hmxai.train.data)",
            "ann_sha256": sha256_of(efficientnet_lite0_weights_path()), "hmxai": __version__,
            "v0": 0.5, "seconds": round(time.perf_counter() - start, 1)}
    if out is not None:
        save_calibration(Path(out), calibration, meta)
    return meta


def main(argv=None) -> int:
    """``python -m hmxai.spiking.calibrate --data DIR --out FILE``: what ``hmxai train snn`` runs."""
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=None, help="the shared data folder (default $HMXAI_DATA or ../shared/data)")
    p.add_argument("--out", required=True, help="calibration file to write (.safetensors)")
    p.add_argument("--images", type=int, default=128, help="calibration images from the training split (default 128)")
    p.add_argument("--percentile", type=float, default=1.0, help="per-channel threshold percentile (default 1: the largest sampled activation)")
    args = p.parse_args(argv)
    meta = calibrate(args.data, args.images, args.percentile, Path(args.out))
    print(json.dumps({**meta, "images": f"{len(meta['images'])} images: {meta['images'][0]} .. {meta['images'][-1]}"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
