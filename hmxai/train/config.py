"""Training configuration: one JSON file describes a whole zoo run."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import List, Optional, Tuple

from hmxai.errors import InvalidArgumentError


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a trained codec (with the seed, bit for bit on one device).

    Attributes:
        arch: CompressAI architecture (``mbt2018-mean`` = mean-scale hyperprior).
        N, M: channel widths of the transforms and of the latent.
        lambdas: rate-distortion trade-offs, one per quality (low to high).
        warm_start: per quality, the quality whose trained weights start it
            (None = from scratch); qualities are trained in this dependency order.
        steps: optimizer steps per quality (``warm_steps`` when warm-started).
        batch, crop: batch size and square crop side.
        late_crop, late_batch, late_fraction: the last fraction of the steps
            uses larger crops (more context for the hyperprior).
        lr, lr_min, warmup: Adam learning rate, cosine decay to lr_min after
            a linear warm-up of ``warmup`` steps.
        aux_lr: learning rate of the entropy bottleneck's quantiles.
        clip: gradient-norm clipping.
        data: folders of training images (globbed for jpg/jpeg/png).
        seed: seeds the weights, the crops and the quantization noise.
        device: ``cpu`` or ``cuda``.
        checkpoint_every: steps between resumable checkpoints.
        init_from: a previous run folder (absolute, or relative to the working
            directory): quality q starts from that run's q weights, a fine-tuning
            stage; warm_start must then be all null.
        stage_steps: per quality, the steps of this stage (overrides steps/warm_steps).
    """

    arch: str = "mbt2018-mean"
    N: int = 64
    M: int = 96
    lambdas: Tuple[float, ...] = (0.0018, 0.0035, 0.0067, 0.013, 0.025)
    warm_start: Tuple[Optional[int], ...] = (2, 3, None, 3, 4)
    steps: int = 12000
    warm_steps: int = 5000
    batch: int = 8
    crop: int = 128
    late_crop: int = 256
    late_batch: int = 4
    late_fraction: float = 0.2
    lr: float = 1e-3
    lr_min: float = 1e-5
    warmup: int = 200
    aux_lr: float = 1e-3
    clip: float = 1.0
    data: Tuple[str, ...] = ("imagenet-samples", "coco-tiny/val2017")
    seed: int = 0
    device: str = "cpu"
    checkpoint_every: int = 250
    init_from: Optional[str] = None
    stage_steps: Optional[Tuple[int, ...]] = None

    def __post_init__(self):
        if len(self.warm_start) != len(self.lambdas):
            raise InvalidArgumentError("warm_start needs one entry per lambda")
        for q, src in enumerate(self.warm_start, start=1):
            if src is not None and not 1 <= src <= len(self.lambdas) or src == q:
                raise InvalidArgumentError(f"quality {q}: warm_start {src} is not another quality")
        if self.init_from is not None and any(src is not None for src in self.warm_start):
            raise InvalidArgumentError("init_from starts every quality from a previous run: warm_start must be all null")
        if self.stage_steps is not None and len(self.stage_steps) != len(self.lambdas):
            raise InvalidArgumentError("stage_steps needs one entry per lambda")

    @classmethod
    def from_json(cls, path: str | Path, **overrides) -> "TrainConfig":
        raw = read_config(path, overrides)
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise InvalidArgumentError(f"unknown config keys: {sorted(unknown)}")
        for key in ("lambdas", "warm_start", "data", "stage_steps"):
            if raw.get(key) is not None:
                raw[key] = tuple(raw[key])
        try:
            return cls(**raw)
        except (TypeError, ValueError) as exc:  # a value of the wrong type or shape
            raise InvalidArgumentError(f"invalid config: {exc}") from exc

    def to_dict(self) -> dict:
        return asdict(self)

    def order(self) -> List[int]:
        """Qualities (1-based) in an order where every warm start is trained first."""
        done: List[int] = []
        while len(done) < len(self.lambdas):
            progressed = False
            for q, src in enumerate(self.warm_start, start=1):
                if q not in done and (src is None or src in done):
                    done.append(q)
                    progressed = True
            if not progressed:
                raise InvalidArgumentError("warm_start has a cycle")
        return done

    def steps_for(self, quality: int) -> int:
        if self.stage_steps is not None:
            return self.stage_steps[quality - 1]
        return self.steps if self.warm_start[quality - 1] is None else self.warm_steps


def read_config(path: str | Path, overrides: dict) -> dict:
    """A config file's JSON object with the non-None ``overrides`` applied; a clear error for a bad file."""
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidArgumentError(f"config {str(path)!r} cannot be read as JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise InvalidArgumentError(f"config {str(path)!r} must hold a JSON object")
    raw.update({k: v for k, v in overrides.items() if v is not None})
    return raw


def default_config() -> TrainConfig:
    return TrainConfig()
