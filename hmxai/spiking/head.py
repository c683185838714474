"""A spiking classifier head trained with surrogate gradients: the training path beside conversion.

``efficientnet-lite0-snn-head``: EfficientNet-Lite0's convolutions (frozen, analog) give the
pooled features ``f: (B, 1280)`` in [0, 6]; a layer of 1280 leaky integrate-and-fire neurons
(snntorch ``Leaky``, learnable leak ``beta`` and threshold per neuron, reset by subtraction)
receives ``f / s`` as a constant input current for ``T`` steps; the ANN's classifier reads the
spike rate times ``s`` (``s`` learnable per feature, initialised at the 99.9th percentile of that
feature). Logits are the classifier's output on the time-averaged, rescaled spikes.

Trained by distillation (KL divergence from the ANN's softmax on the same image) with
backpropagation through time and snntorch's arctan surrogate gradient, on pooled features of
the codec training split (computed once). Only the head's own parameters train: ``s``, ``beta``,
the thresholds and the classifier's bias (the classifier's weights stay the ANN's, so the file
is small); see :func:`train_head`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hmxai.errors import InvalidArgumentError
from hmxai.spiking.neurons import _private_leaky

HEAD_FILE = Path(__file__).resolve().parent.parent / "zoo" / "efficientnet-lite0-snn-head.safetensors"
HEAD_FORMAT = "hmxai-snn-head/1"


class SpikingHead(nn.Module):
    """Pooled features ``(B, F)`` -> logits through one layer of LIF neurons over ``steps``."""

    def __init__(self, fc: nn.Linear, scale: Tensor, steps: int = 8):
        super().__init__()
        n = fc.in_features
        self.log_scale = nn.Parameter(scale.clamp(min=1e-3).log().clone())
        self.lif = _private_leaky(beta=torch.full((n,), 0.95), threshold=torch.ones(n), learn_beta=True,
                                  learn_threshold=True)
        self.fc = nn.Linear(n, fc.out_features)
        with torch.no_grad():
            self.fc.weight.copy_(fc.weight)
            self.fc.bias.copy_(fc.bias)
        self.fc.weight.requires_grad_(False)
        self.steps = steps

    def forward(self, features: Tensor) -> Tensor:
        scale = self.log_scale.exp()
        current = features / scale
        mem = torch.zeros_like(current)
        total = torch.zeros_like(current)
        try:
            for _ in range(self.steps):
                spk, mem = self.lif(current, mem)
                total = total + spk
        finally:
            self.lif.mem = torch.zeros(0)  # the call's state does not outlive it
        return self.fc(total / self.steps * scale)

    def trained_state(self) -> Dict[str, Tensor]:
        """What the file ships: everything but the classifier's weights (the ANN's)."""
        return {"log_scale": self.log_scale.detach(), "beta": self.lif.beta.detach(),
                "threshold": self.lif.threshold.detach(), "fc_bias": self.fc.bias.detach()}

    def load_trained(self, state: Dict[str, Tensor]) -> None:
        from hmxai.spiking.calibrate import CalibrationError

        expect = {k: v.shape for k, v in self.trained_state().items()}
        got = {k: v.shape for k, v in state.items()}
        if expect != got:
            raise CalibrationError(f"spiking-head file does not fit: expected {sorted(expect)}, got {sorted(got)}")
        if not all(torch.isfinite(v).all() for v in state.values()):
            raise CalibrationError("spiking-head file holds values that are not finite")
        with torch.no_grad():
            self.log_scale.copy_(state["log_scale"])
            self.lif.beta.copy_(state["beta"])
            self.lif.threshold.copy_(state["threshold"])
            self.fc.bias.copy_(state["fc_bias"])


def lite0_pooled(net: nn.Module, x: Tensor) -> Tensor:
    """EfficientNet-Lite0's pooled features ``(B, 1280)`` of normalized ``x`` (the classifier's input)."""
    return net._avg_pooling(net.extract_features(x)).flatten(1)


class HybridLite0(nn.Module):
    """EfficientNet-Lite0's convolutions (analog) followed by a :class:`SpikingHead`."""

    def __init__(self, ann: nn.Module, head: SpikingHead):
        super().__init__()
        self.ann = ann
        self.head = head
        self.ann.requires_grad_(False)

    def features(self, x: Tensor) -> Tensor:
        return lite0_pooled(self.ann, x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


@torch.no_grad()
def pooled_features(task, paths: List[Path], flip: bool = True, batch: int = 16, progress: bool = True):
    """(features (N, 1280), teacher logits (N, 1000)) of the ANN task on ``paths`` (and mirrored)."""
    from tqdm.auto import tqdm

    from hmxai.images import load_image
    from hmxai.modes import eval_mode

    feats, logits = [], []
    net = task.net
    with eval_mode(net):
        for i in tqdm(range(0, len(paths), batch), desc="features", disable=not progress):
            x = torch.cat([task.preprocess(load_image(p)) for p in paths[i : i + batch]])
            views = [x, x.flip(-1)] if flip else [x]
            for v in views:
                f = lite0_pooled(net, v)
                feats.append(f)
                logits.append(net._fc(f))
    return torch.cat(feats), torch.cat(logits)


def train_head(root=None, steps: int = 8, iterations: int = 1500, lr: float = 1e-2, batch: int = 256,
               seed: int = 0, out: Optional[Path] = None, progress: bool = True,
               cache: Optional[Path] = None) -> Dict[str, object]:
    """Train the spiking head by distillation on the codec training split; write it to ``out``.

    ``cache``: a file for the pooled features (computed once, the slow part: reused when present
    and made for the same images and ANN weights)."""
    from tqdm.auto import tqdm

    from hmxai import __version__
    from hmxai.datasets import data_root
    from hmxai.spiking.calibrate import sha256_of
    from hmxai.tasks.classifiers import efficientnet_lite0, efficientnet_lite0_weights_path
    from hmxai.train.data import imagenet_split, training_paths

    start = time.perf_counter()
    torch.manual_seed(seed)
    root = data_root(root)
    task = efficientnet_lite0()
    paths = training_paths(root, ["imagenet-samples", "coco-tiny/val2017"])
    extra = sorted(p for p in (root / "train-extra").rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")
                   and "bsds500/val" not in p.as_posix())
    paths += extra
    _, held = imagenet_split(root / "imagenet-samples")
    key = [p.name for p in paths] + [p.name for p in held] + [sha256_of(efficientnet_lite0_weights_path())]
    cached = None
    if cache is not None and Path(cache).is_file():
        cached = torch.load(cache, map_location="cpu", weights_only=True)  # tensors and strings only
        cached = cached if cached.get("key") == key else None
    if cached is None:
        feats, teacher = pooled_features(task, paths, progress=progress)
        held_feats, held_teacher = pooled_features(task, held, flip=False, progress=progress)
        if cache is not None:
            torch.save({"key": key, "feats": feats, "teacher": teacher, "held_feats": held_feats,
                        "held_teacher": held_teacher}, cache)
    else:
        feats, teacher = cached["feats"], cached["teacher"]
        held_feats, held_teacher = cached["held_feats"], cached["held_teacher"]
    scale = torch.quantile(feats, 0.999, dim=0)
    head = SpikingHead(task.net._fc, scale, steps=steps)
    opt = torch.optim.Adam([p for p in head.parameters() if p.requires_grad], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, iterations)
    gen = torch.Generator().manual_seed(seed)
    soft = F.softmax(teacher, dim=-1)
    log = []
    for it in tqdm(range(iterations), desc="spiking head", disable=not progress):
        idx = torch.randint(0, feats.shape[0], (batch,), generator=gen)
        loss = F.kl_div(F.log_softmax(head(feats[idx]), dim=-1), soft[idx], reduction="batchmean")
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        with torch.no_grad():
            head.lif.beta.clamp_(0.0, 1.0)
            head.lif.threshold.clamp_(min=1e-2)
        if it % 100 == 0 or it == iterations - 1:
            log.append({"iteration": it, "kl": round(float(loss), 5)})
    with torch.no_grad():
        agreement = float((head(held_feats).argmax(1) == held_teacher.argmax(1)).double().mean())
    meta = {"method": "distillation (KL from the ANN) through LIF neurons, BPTT, arctan surrogate",
            "steps": steps, "iterations": iterations, "lr": lr, "batch": batch, "seed": seed,
            "training_vectors": int(feats.shape[0]), "images": len(paths),
            "held_out_agreement": round(agreement, 4), "held_out_images": len(held), "log": log,
            "ann_sha256": sha256_of(efficientnet_lite0_weights_path()), "hmxai": __version__,
            "seconds": round(time.perf_counter() - start, 1)}
    if out is not None:
        save_head(Path(out), head, meta)
    return meta


def save_head(path: Path, head: SpikingHead, meta: dict) -> Path:
    import json

    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    save_file({k: v.float().contiguous() for k, v in head.trained_state().items()}, str(tmp),
              metadata={"format": HEAD_FORMAT, "meta": json.dumps(meta)})
    tmp.chmod(0o644)
    tmp.replace(path)
    return path


def efficientnet_lite0_snn_head(steps: int = 8, pretrained: bool = True, path: Optional[Path] = None):
    """The task: EfficientNet-Lite0's convolutions + the trained spiking head (``steps`` = T)."""
    from hmxai.spiking.calibrate import CalibrationError, sha256_of
    from hmxai.tasks.base import TaskModel
    from hmxai.tasks.classifiers import LITE_MEAN, LITE_STD, efficientnet_lite0, efficientnet_lite0_weights_path

    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise InvalidArgumentError(f"steps (T) must be a positive integer, got {steps!r}")
    ann = efficientnet_lite0(pretrained)
    head = SpikingHead(ann.net._fc, torch.full((ann.net._fc.in_features,), 6.0), steps=steps)
    weights = "random-init ANN, untrained head"
    if pretrained:
        from hmxai.spiking.calibrate import read_safetensors

        path = Path(path) if path is not None else HEAD_FILE
        state, meta = read_safetensors(path, HEAD_FORMAT, "spiking-head")
        if meta.get("ann_sha256") != sha256_of(efficientnet_lite0_weights_path()):
            raise CalibrationError(f"{str(path)!r} was trained on other ANN weights")
        head.load_trained(state)
        weights = f"{ann.weights} + spiking head {path.name}"
    net = HybridLite0(ann.net.eval(), head)
    return TaskModel(net, "efficientnet-lite0-snn-head", ann.labels, LITE_MEAN, LITE_STD, input_size=224, resize=256,
                     target_layer="ann._conv_head", weights=weights)


def main(argv=None) -> int:
    """``python -m hmxai.spiking.head --out FILE``: what ``hmxai train snn-head`` runs."""
    import argparse
    import json

    p = argparse.ArgumentParser(description="train the spiking head by distillation")
    p.add_argument("--data", default=None)
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--iterations", type=int, default=1500)
    p.add_argument("--cache", default=None, help="file to keep the pooled features in (reused when it fits)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    meta = train_head(args.data, steps=args.steps, iterations=args.iterations, out=Path(args.out),
                      cache=None if args.cache is None else Path(args.cache))
    print(json.dumps({k: v for k, v in meta.items() if k != "log"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
