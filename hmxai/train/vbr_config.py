"""Configuration of a variable-rate training run: one JSON file describes it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Optional, Tuple

from hmxai.errors import InvalidArgumentError
from hmxai.train.config import read_config

#: the codec training split (never Kodak; the ImageNet folder contributes its train part only)
TRAIN_FOLDERS = (
    "imagenet-samples",
    "coco-tiny/val2017",
    "train-extra/bsds500/train",
    "train-extra/bsds500/test",
    "train-extra/osie",
    "train-extra/urban100-half",
    "train-extra/set14",
)


@dataclass(frozen=True)
class VbrConfig:
    """Everything that determines a variable-rate run (with the seed, bit for bit on one device).

    Attributes:
        name: the codec's registry name once exported.
        N, M: channel widths of the transforms and of the latent.
        lambdas: the named qualities' lambdas, low to high (quality 1..L); training draws a
            quality uniformly in [1, L] per batch, lambda log-linear between the points.
        stage_steps: steps of stage 1 (highest lambda only, additive noise, CompressAI's
            plain mean-scale path), stage 2 (random lambda, mixed quantization: noise for the
            rate, straight-through rounding plus offsets for the decoder) and stage 3
            (straight-through rounding for the rate too, learning rate ``lr_stage3``).
        batch, crop: batch size and square crop side.
        lr, lr_min, warmup: Adam; linear warm-up, then cosine from lr to lr_min over stages 1-2.
        lr_stage3: constant learning rate of stage 3.
        aux_lr: learning rate of the entropy bottleneck's quantiles.
        clip: gradient-norm clipping.
        ema_decay: exponential moving average of the weights (exported instead of the raw ones).
        data: training folders under the data root.
        downscale: (folder, low, high): images of that folder are shrunk by a factor drawn
            once per image in [low, high] (train-extra's quality-75 OSIE JPEGs carry blocks).
        max_side: images whose long side exceeds it are shrunk to it (0: never).
        validation: a folder kept out of training, coded with real bitstreams every
            ``val_every`` steps (its first ``val_images`` images, sorted).
        val_qualities: qualities validated.
        fixed_quality: train one rate only (the A/B's single-rate arm): every batch at
            lambda(fixed_quality), with gain 1.
        init_from: safetensors weights (a previous run's export) that start both the model and
            its average; relative paths are read from the working directory.
        seed, device, checkpoint_every: as named.
    """

    name: str = "hmxai-vbr"
    N: int = 96
    M: int = 128
    lambdas: Tuple[float, ...] = (0.0018, 0.0035, 0.0067, 0.013, 0.025, 0.0483)
    stage_steps: Tuple[int, int, int] = (6000, 48000, 6000)
    batch: int = 4
    crop: int = 256
    lr: float = 1e-4
    lr_min: float = 2e-5
    warmup: int = 500
    lr_stage3: float = 1e-5
    aux_lr: float = 1e-3
    clip: float = 1.0
    ema_decay: float = 0.999
    data: Tuple[str, ...] = TRAIN_FOLDERS
    downscale: Tuple[Tuple[str, float, float], ...] = (("train-extra/osie", 0.5, 0.75),)
    max_side: int = 0
    validation: str = "train-extra/bsds500/val"
    val_images: int = 12
    val_qualities: Tuple[float, ...] = (1.0, 3.5, 6.0)
    val_every: int = 2000
    fixed_quality: Optional[float] = None
    init_from: Optional[str] = None
    seed: int = 0
    device: str = "cpu"
    checkpoint_every: int = 250

    def __post_init__(self):
        if len(self.stage_steps) != 3 or any(int(s) < 0 for s in self.stage_steps):
            raise InvalidArgumentError("stage_steps needs three non-negative step counts (stages 1, 2, 3)")
        if len(self.lambdas) < 2 or any(b <= a for a, b in zip(self.lambdas, self.lambdas[1:])):
            raise InvalidArgumentError("lambdas must be at least two, strictly increasing")
        if self.validation in self.data:
            raise InvalidArgumentError(f"the validation folder {self.validation!r} is also a training folder")
        if any("kodak" in d.lower() for d in self.data):
            raise InvalidArgumentError("Kodak is for evaluation only; remove it from the training folders")
        if self.fixed_quality is not None and not 1 <= self.fixed_quality <= len(self.lambdas):
            raise InvalidArgumentError(f"fixed_quality must lie in 1..{len(self.lambdas)}")

    @property
    def total(self) -> int:
        return int(sum(self.stage_steps))

    def stage(self, step: int) -> int:
        """Stage (1, 2 or 3) of a 0-based step."""
        s1, s2, _ = self.stage_steps
        return 1 if step < s1 else 2 if step < s1 + s2 else 3

    def scaled_to(self, total: int, done: int = 0) -> "VbrConfig":
        """The same recipe over ``total`` steps (stage proportions kept; stages already begun keep
        at least ``done`` steps): how a run fits a time budget."""
        s = [int(v) for v in self.stage_steps]
        ratio = total / max(1, sum(s))
        new = [max(1, round(v * ratio)) if v else 0 for v in s]
        new[0] = max(new[0], min(done, s[0]))
        new[1] = max(1, total - new[0] - new[2]) if s[1] else 0
        warmup = max(1, round(self.warmup * min(1.0, ratio)))  # a short run must not spend stage 1 warming up
        return replace(self, stage_steps=tuple(new), warmup=warmup)

    @classmethod
    def from_json(cls, path: str | Path, **overrides) -> "VbrConfig":
        raw = read_config(path, overrides)
        return cls.from_dict(raw)

    @classmethod
    def from_dict(cls, raw: dict) -> "VbrConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise InvalidArgumentError(f"unknown config keys: {sorted(unknown)}")
        raw = dict(raw)
        try:
            for key in ("lambdas", "stage_steps", "data", "val_qualities"):
                if raw.get(key) is not None:
                    raw[key] = tuple(raw[key])
            if raw.get("downscale") is not None:
                raw["downscale"] = tuple((str(f), float(lo), float(hi)) for f, lo, hi in raw["downscale"])
            return cls(**raw)
        except (TypeError, ValueError) as exc:  # a value of the wrong type or shape
            raise InvalidArgumentError(f"invalid config: {exc}") from exc

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self)))  # tuples as JSON lists
