"""Training the latent-domain classifier by distillation (``hmxai train latent``).

The codec is frozen and its analysis does not depend on the quality (``y = g_a(x)`` and the
hyperprior's ``means``/``scales``; only the quantization gain moves with the rate), so every
training image is analysed once and cached (fp16) with the teacher's block-10 features and
logits on the original image. A step then draws, per latent, a quality in the codec's range,
quantizes it exactly as the codec does (:func:`hmxai.codecs.vbr.dequantize`), and trains::

    loss = feature_weight * |adapter(y_hat) - teacher_s(x)|^2 / mean(teacher_s(x)^2)
         + kl_weight * T^2 * KL(softmax(teacher(x) / T) || softmax(student(y_hat) / T))

(``teacher_s``: the teacher's output at the adapter's stride; with ``kl_weight`` 0 the teacher's
later blocks never run in training, which makes a step several times cheaper.)

Runs resume from ``out/state.pt`` (written atomically every ``checkpoint_every`` steps); a
resumed run continues bit for bit (each step's draws are seeded by the step).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hmxai.errors import CheckpointError, InvalidArgumentError
from hmxai.train.checkpoint import load_state, save_state
from hmxai.train.latent_config import LatentConfig

CACHE = "cache.safetensors"


def _codec(config: LatentConfig):
    from hmxai.codecs import create_codec

    codec = create_codec(config.codec)
    if not getattr(codec, "continuous", False):
        raise InvalidArgumentError(f"latent training needs a variable-rate codec (hmxai-vbr), not {config.codec!r}")
    return codec


def _teacher():
    from hmxai.tasks import create_task

    return create_task("efficientnet-lite0")


@torch.no_grad()
def analyse(codec, teacher, images: List[Tensor], progress: bool = True, desc: str = "latent cache",
            stride: int = 16) -> Dict[str, Tensor]:
    """The cache of ``images`` (each ``(1, 3, H, W)`` in [0, 1]): per image ``y``, ``means``,
    ``scales`` (fp16, the padded latent) and its size; the teacher's features at ``stride`` and logits."""
    from tqdm.auto import tqdm

    from hmxai.images import pad_to_multiple
    from hmxai.latent.model import teacher_features

    out: Dict[str, Tensor] = {}
    feats, logits, sizes = [], [], []
    m = codec.model.eval()
    for i, x in enumerate(tqdm(images, desc=desc, disable=not progress)):
        xp, size = pad_to_multiple(x.float(), codec.pad_multiple)
        y = m.g_a(xp)
        _, _, _, scales, means = codec._hyper(y)
        out[f"y.{i}"], out[f"means.{i}"], out[f"scales.{i}"] = y[0].half(), means[0].half(), scales[0].half()
        f, lg = teacher_features(teacher.net.eval(), teacher.preprocess(x.float()), stride)
        feats.append(f[0].half())
        logits.append(lg[0].half())
        sizes.append(torch.tensor(size))
    out["features"], out["logits"], out["sizes"] = torch.stack(feats), torch.stack(logits), torch.stack(sizes)
    return out


@torch.no_grad()
def quantized(codec, cache: Dict[str, Tensor], i: int, quality: float) -> Tensor:
    """``y_hat (1, M, h, w)`` of cached image ``i`` at ``quality``, as the codec quantizes it."""
    from hmxai.codecs.vbr import dequantize

    m = codec.model
    y, means, scales = (cache[f"{k}.{i}"][None].float() for k in ("y", "means", "scales"))
    g = torch.tensor(codec.scale.gain(quality), dtype=torch.float32)
    symbols = torch.round((y - means) * g)
    return dequantize(m, symbols, scales, means, g)


def load_images(paths, config: LatentConfig) -> List[Tensor]:
    from hmxai.train.data import image_sizes, load_uint8, shrink_factors

    factors = shrink_factors(paths, config.downscale, config.max_side, image_sizes(paths), config.seed)
    return [load_uint8(p, f)[None].float() / 255.0 for p, f in zip(paths, factors)]


def build_cache(config: LatentConfig, data_root, out_dir: Path, progress: bool = True) -> Path:
    """Analyse the training and validation images once (``out_dir/cache.safetensors``); reused if there."""
    from safetensors.torch import save_file

    from hmxai.spiking.calibrate import sha256_of
    from hmxai.tasks.classifiers import efficientnet_lite0_weights_path
    from hmxai.train.data import training_paths

    from hmxai.latent.model import stride_of

    path = out_dir / CACHE
    codec, teacher = _codec(config), _teacher()
    stride = stride_of(config.stages)
    if path.is_file():
        return path
    root = Path(data_root)
    train = training_paths(root, config.data)
    val = sorted(p for p in (root / config.validation).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    val = val[: config.val_images]
    tensors = {}
    for split, paths in (("train", train), ("val", val)):
        part = analyse(codec, teacher, load_images(paths, config), progress, desc=f"latent cache ({split})",
                       stride=stride)
        tensors.update({f"{split}/{k}": v.contiguous() for k, v in part.items()})
    meta = {"codec": config.codec, "codec_weights_id": codec.weights_id or "",
            "teacher_sha256": sha256_of(efficientnet_lite0_weights_path()),
            "train": str(len(train)), "val": str(len(val)), "stride": str(stride)}
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    tmp.replace(path)
    return path


def read_cache(path: Path, codec, stride: Optional[int] = None) -> Dict[str, Dict[str, Tensor]]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
            if meta.get("codec_weights_id") != (codec.weights_id or ""):
                raise CheckpointError(f"{str(path)!r} caches latents of other {meta.get('codec')} weights; delete it")
            if stride is not None and meta.get("stride", "16") != str(stride):
                raise CheckpointError(f"{str(path)!r} caches teacher features at stride {meta.get('stride', '16')}, "
                                      f"this run needs {stride}; delete it")
            out: Dict[str, Dict[str, Tensor]] = {"train": {}, "val": {}}
            for key in f.keys():
                split, name = key.split("/", 1)
                out[split][name] = f.get_tensor(key)
    except CheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001 - a truncated or foreign file
        raise CheckpointError(f"the latent cache {str(path)!r} cannot be read ({exc}); delete it to rebuild") from exc
    return out


class Student(nn.Module):
    """What a run trains, after the frozen front and the crop geometry: the crop's synthesis layers
    (``synthesis`` adapter; empty for ``mbconv``) and the EfficientNet-shaped network."""

    def __init__(self, synthesis: nn.Module, net: nn.Module):
        super().__init__()
        self.synthesis, self.net = synthesis, net

    def forward(self, y: Tensor) -> Tensor:
        return self.net(self.synthesis(y))


def student(config: LatentConfig, codec, teacher) -> Student:
    """The run's :class:`Student`, seeded (:func:`~hmxai.latent.model.latent_network` for the
    ``mbconv`` adapter; :func:`~hmxai.latent.model.synthesis_of` + the teacher for ``synthesis``)."""
    from hmxai.latent.model import latent_network, stride_of, synthesis_network, synthesis_of
    from hmxai.tasks.classifiers import LITE_MEAN, LITE_STD

    stride = stride_of(config.stages)
    if config.adapter == "synthesis":
        return Student(synthesis_of(codec, config.stages, LITE_MEAN, LITE_STD),
                       synthesis_network(teacher.net.eval(), stride))
    channels = codec.model.M if config.stages == 0 else codec.model.g_s[0].out_channels
    return Student(nn.Sequential(), latent_network(teacher.net.eval(), channels, config.adapter_blocks, config.expand,
                                                   config.kernel, seed=config.seed, stride=stride, width=config.width))


def init_student(model: Student, path, codec, config: LatentConfig) -> None:
    """Load a latent-task weights file's trained layers into ``model`` (``config.init_from``); a clear
    error for a file of other codec weights, another adapter or layers the student does not have."""
    from hmxai.latent.zoo import read_latent_weights

    state, meta = read_latent_weights(Path(path))
    if meta.get("codec_weights_id") and meta["codec_weights_id"] != codec.weights_id:
        raise InvalidArgumentError(f"init_from {str(path)!r} was trained on other {meta.get('codec')} weights "
                                   f"({meta['codec_weights_id']}) than the installed ones ({codec.weights_id})")
    for key in ("adapter", "stages"):
        if key in meta and meta[key] != getattr(config, key):
            raise InvalidArgumentError(f"init_from {str(path)!r} has {key} {meta[key]!r}, this run {getattr(config, key)!r}")
    own = model.state_dict()
    mapped = {k if k.startswith("synthesis.") else f"net.{k}": v for k, v in state.items()}
    foreign = sorted(k for k in mapped if k not in own or own[k].shape != mapped[k].shape)
    if foreign:
        raise InvalidArgumentError(f"init_from {str(path)!r} holds layers this run's model lacks: {foreign[:3]}")
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in mapped.items()}, strict=False)


def first_layers(net) -> List[nn.Module]:
    """The network's stem and its blocks up to the one that imitates the teacher's features."""
    return [net._conv_stem, net._bn0, *net._blocks[: net.adapter_blocks]]


def trains_first(config: LatentConfig) -> bool:
    """Whether the run trains the network's stem and first blocks (always for ``mbconv``)."""
    return config.adapter == "mbconv" or config.train_first


def trainable(model: Student, config: LatentConfig) -> List[nn.Parameter]:
    """The parameters this run trains: the crop's synthesis layers; the stem and first blocks (the
    whole adapter for ``mbconv``; for ``synthesis`` if ``train_first``); all of it with ``train_tail``."""
    if config.train_tail:
        return list(model.parameters())
    return list(model.synthesis.parameters()) + ([p for m in first_layers(model.net) for p in m.parameters()]
                                                 if trains_first(config) else [])


def set_modes(model: Student, config: LatentConfig, training: bool) -> None:
    """Train mode for what trains (batch norm statistics included), eval mode for what stays frozen."""
    model.train(training)
    if not training:
        return
    net = model.net
    tail = [*net._blocks[net.adapter_blocks:], net._conv_head, net._bn1, net._dropout]
    if config.train_tail:
        if config.tail_frozen_norm:  # weights train, statistics and dropout stay the teacher's
            for m in tail:
                for sub in m.modules():
                    if isinstance(sub, (nn.modules.batchnorm._BatchNorm, nn.Dropout)):
                        sub.eval()
        return
    frozen = tail + ([] if trains_first(config) else first_layers(net))
    for m in frozen:
        m.eval()


def losses(model: Student, y: Tensor, feats: Tensor, logits: Tensor, config: LatentConfig):
    """(total, feature term, KL term) of preprocessed latents ``y`` against the teacher's outputs."""
    from hmxai.latent.model import adapter_features, tail_logits

    h = adapter_features(model.net, model.synthesis(y))
    f = feats.float()
    feature = (h - f).pow(2).mean() / f.pow(2).mean().clamp(min=1e-8)
    if config.kl_weight == 0:  # features only: the tail never runs (the cheap path)
        return config.feature_weight * feature, feature, torch.zeros(())
    student = tail_logits(model.net, h)
    T = config.temperature
    kl = F.kl_div(F.log_softmax(student / T, -1), F.log_softmax(logits.float() / T, -1), log_target=True,
                  reduction="batchmean") * T * T
    return config.feature_weight * feature + config.kl_weight * kl, feature, kl


@torch.no_grad()
def network_input(front, codec, split: Dict[str, Tensor], i: int, quality: float, stride: int) -> Tensor:
    """Cached image ``i`` at ``quality``: its latent through the front and the crop geometry."""
    from hmxai.latent.model import preprocess_latent

    return preprocess_latent(front(quantized(codec, split, i, quality)), tuple(split["sizes"][i].tolist()), stride)


@torch.no_grad()
def batch_of(codec, split: Dict[str, Tensor], config: LatentConfig, step: int, front=None):
    """The step's batch: latents drawn, quantized at drawn qualities (seeded by the step), through
    ``front`` and the crop geometry; with the teacher's features and logits."""
    from hmxai.latent.model import front_of, stride_of

    front = front if front is not None else front_of(codec, config.stages)

    g = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
    n = split["sizes"].shape[0]
    lo, hi = config.qualities or codec.scale.range
    index = torch.randint(n, (config.batch,), generator=g)
    qs = (lo + (hi - lo) * torch.rand(config.batch, generator=g, dtype=torch.float64)).tolist()
    stride = stride_of(config.stages)
    ys = [network_input(front, codec, split, int(i), q, stride) for i, q in zip(index.tolist(), qs)]
    return torch.cat(ys), split["features"][index], split["logits"][index]


def learning_rate(config: LatentConfig, step: int) -> float:
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    t = (step - config.warmup) / max(1, config.steps - config.warmup)
    return config.lr_min + 0.5 * (config.lr - config.lr_min) * (1 + math.cos(math.pi * min(1.0, t)))


@torch.no_grad()
def validate(net, codec, split: Dict[str, Tensor], qualities, front, stride: int, batch: int = 50) -> Dict[str, float]:
    """Top-1 agreement with the teacher (on the original) per quality."""
    net.eval()
    out = {}
    n = split["sizes"].shape[0]
    teacher_top = split["logits"].float().argmax(-1)
    for q in qualities:
        agree = 0
        for s in range(0, n, batch):
            idx = range(s, min(n, s + batch))
            y = torch.cat([network_input(front, codec, split, i, q, stride) for i in idx])
            agree += int((net(y).argmax(-1) == teacher_top[s : s + len(idx)]).sum())
        out[f"agreement_q{q:g}"] = agree / max(1, n)
    return out


def train_latent(config: LatentConfig, data_root, out_dir, progress: bool = True, threads: int = 1,
                 cache: Optional[Path] = None) -> Path:
    """Train (or resume) a latent-task run; returns ``out_dir/state.pt``."""
    from tqdm.auto import tqdm

    from hmxai.latent.model import front_of, stride_of

    torch.set_num_threads(threads)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg_path = out_dir / "config.json"
    if cfg_path.is_file():
        recorded = LatentConfig.from_dict(json.loads(cfg_path.read_text()))
        if recorded.to_dict() != config.to_dict():
            raise InvalidArgumentError(f"{str(out_dir)!r} holds a run of another config; use a new --out")
    else:
        cfg_path.write_text(json.dumps(config.to_dict(), indent=1))
    codec, teacher = _codec(config), _teacher()
    stride = stride_of(config.stages)
    data = read_cache(Path(cache) if cache else build_cache(config, data_root, out_dir, progress), codec, stride)
    front = front_of(codec, config.stages)
    model = student(config, codec, teacher)
    model.requires_grad_(False)
    params = trainable(model, config)
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    state_path = out_dir / "state.pt"
    step, log = 0, []
    if state_path.is_file():
        state = load_state(state_path, "cpu")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step, log = int(state["step"]), json.loads(state["log"])
    elif config.init_from:
        init_student(model, config.init_from, codec, config)
    t0 = time.time()
    seconds = float(log[-1]["seconds"]) if log else 0.0
    bar = tqdm(total=config.steps, initial=step, desc=config.name, disable=not progress)
    while step < config.steps:
        set_modes(model, config, True)
        for group in opt.param_groups:
            group["lr"] = learning_rate(config, step)
        y, feats, logits = batch_of(codec, data["train"], config, step, front)
        with torch.random.fork_rng():
            torch.manual_seed(config.seed * 7919 + step)  # dropout, when the tail trains
            total, feature, kl = losses(model, y, feats, logits, config)
        opt.zero_grad(set_to_none=True)
        total.backward()
        if config.clip:
            torch.nn.utils.clip_grad_norm_(params, config.clip)
        opt.step()
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{total.item():.3f}", kl=f"{kl.item():.3f}")
        entry = {"step": step, "loss": total.item(), "feature": feature.item(), "kl": kl.item(),
                 "seconds": seconds + time.time() - t0}
        if config.val_every and (step % config.val_every == 0 or step == config.steps):
            entry.update(validate(model, codec, data["val"], config.val_qualities, front, stride))
        if step % config.checkpoint_every == 0 or step == config.steps or "agreement_q1" in entry:
            log.append(entry)
            save_state({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
                        "log": json.dumps(log)}, state_path)
    bar.close()
    return state_path


def export_latent(run_dir, path, fp16: bool = True) -> Path:
    """The trained part of a run as safetensors: the crop's synthesis layers (keys ``synthesis.*``)
    and the network's trained layers (keys as in the network's own state dict); GDN's parameters
    stay fp32, other tensors of 64 elements or more are stored fp16."""
    from safetensors.torch import save_file

    from hmxai.spiking.calibrate import sha256_of
    from hmxai.tasks.classifiers import efficientnet_lite0_weights_path

    run_dir = Path(run_dir)
    config = LatentConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
    state = load_state(run_dir / "state.pt", "cpu")
    codec = _codec(config)
    model = student(config, codec, _teacher())
    prefixes = ("synthesis.",) + (("net.",) if config.train_tail else (("net._conv_stem.", "net._bn0.") + tuple(
        f"net._blocks.{i}." for i in range(model.net.adapter_blocks)) if trains_first(config) else ()))
    out = {}
    for key, value in state["model"].items():
        if key.startswith(prefixes):
            value = value.detach().cpu().contiguous()
            gdn = ".beta" in key or ".gamma" in key
            half = fp16 and value.is_floating_point() and value.numel() >= 64 and not gdn
            out[key[len("net."):] if key.startswith("net.") else key] = value.half() if half else value
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    log = json.loads(state["log"])
    meta = {"name": config.name, "codec": config.codec, "codec_weights_id": codec.weights_id or "",
            "channels": int(codec.model.M), "stages": config.stages, "adapter": config.adapter, "teacher_sha256": sha256_of(efficientnet_lite0_weights_path()),
            "steps": int(state["step"]), "config": config.to_dict(), "seconds": round(log[-1]["seconds"]) if log else 0,
            "validation": {k: v for k, v in (log[-1] if log else {}).items() if k.startswith("agreement")}}
    save_file(out, str(path), metadata={"format": "hmxai-latent-task-v1", "meta": json.dumps(meta)})
    return path


def calibrate_latent_snn(weights, cache_path, out, count: int = 128, percentile: float = 1.0,
                         progress: bool = True) -> dict:
    """Thresholds of the latent classifier's spiking twin, as the image SNN's are set (per-channel
    largest ANN activation, :mod:`hmxai.spiking.calibrate`), from ``count`` cached training latents
    evenly spaced over the split, each quantized at a quality evenly spaced over the codec's range."""
    from hmxai.latent.model import front_of, stride_of
    from hmxai.latent.zoo import latent_ann
    from hmxai.spiking.calibrate import (activation_statistics, calibration_indices, save_calibration,
                                         sha256_of, thresholds_from)
    from hmxai.spiking.network import SpikingEfficientNet

    t0 = time.time()
    net, _, synthesis, meta = latent_ann(Path(weights))
    from hmxai.codecs import create_codec

    codec = create_codec(meta["codec"])
    stages = int(meta.get("stages", 0))
    front, stride = front_of(codec, stages), stride_of(stages)
    split = read_cache(Path(cache_path), codec, stride)["train"]
    n = split["sizes"].shape[0]
    lo, hi = codec.scale.range
    idx = calibration_indices(n, min(count, n))
    with torch.no_grad():
        ys = [synthesis(network_input(front, codec, split, i, lo + (hi - lo) * k / max(1, len(idx) - 1), stride))
              for k, i in enumerate(idx)]
    snn = SpikingEfficientNet(net)
    calibration = thresholds_from(activation_statistics(snn, torch.cat(ys), progress=progress), percentile)
    info = {"method": "per-channel percentile of the latent ANN's ReLU6 outputs (threshold balancing)",
            "percentile": percentile, "latents": len(idx), "qualities": [lo, hi],
            "ann_sha256": sha256_of(Path(weights)), "seconds": round(time.time() - t0, 1)}
    save_calibration(Path(out), calibration, info)
    return info
