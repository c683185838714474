"""Configuration of a latent-task training run (``hmxai train latent``): one JSON file describes it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Optional, Tuple

from hmxai.errors import InvalidArgumentError
from hmxai.train.config import read_config
from hmxai.train.vbr_config import TRAIN_FOLDERS


@dataclass(frozen=True)
class LatentConfig:
    """Everything that determines a latent-task run (with the seed, bit for bit on one device).

    Attributes:
        name: the task's registry name once exported.
        codec: the learned codec whose latent the task reads (its shipped weights).
        stages: synthesis layers of the codec run (frozen) before the adapter: 0 (the adapter reads
            the latent at stride 16), 1 (stride 8) or 2 (stride 4).
        adapter: ``synthesis`` (the codec's remaining synthesis layers, fine-tuned, on the crop,
            then the teacher) or ``mbconv`` (a stem and MBConv blocks from scratch); see
            :mod:`hmxai.latent.model`.
        train_first: ``synthesis`` adapter: also fine-tune the teacher's stem and first blocks (up
            to the block whose output the feature term compares).
        adapter_blocks, expand, kernel, width: the ``mbconv`` adapter (:func:`hmxai.latent.model.latent_network`).
        train_tail: also train the teacher's blocks 11..15, head and classifier (the shipped
            file then holds them too); False: they stay the teacher's, frozen (batch norm too).
        tail_frozen_norm: with ``train_tail``: the tail's weights train, but its batch norm keeps the
            teacher's ImageNet statistics and its dropout is off (eval mode) instead of re-estimating
            them on the training batches.
        steps, batch: optimizer steps and latents per batch.
        lr, lr_min, warmup, weight_decay: AdamW, linear warm-up then cosine from lr to lr_min.
        clip: gradient norm clipping (0: none).
        init_from: a latent-task weights file (``export_latent``'s format, trained on the same codec
            weights with the same adapter) whose trained layers a fresh run starts from, with a fresh
            optimizer and schedule; ``None``: the codec's and teacher's layers as they are.
        feature_weight: weight of the feature term (MSE between the adapter's output and the
            teacher's output at the same stride on the original image, divided by its mean square).
        kl_weight, temperature: weight and temperature of the logit distillation (KL(teacher ||
            student) times temperature squared); kl_weight 0: features only.
        qualities: (low, high): each latent of a batch is quantized at a quality drawn uniformly in
            this range (None: the codec's whole range).
        data, downscale, max_side: the codec training split (as the codec's own training reads it).
        validation, val_images, val_qualities, val_every: a folder kept out of training; top-1
            agreement with the teacher on the original image, at those qualities.
        seed, device, checkpoint_every: as named.
    """

    name: str = "efficientnet-lite0-latent"
    codec: str = "hmxai-vbr"
    stages: int = 2
    adapter: str = "synthesis"
    train_first: bool = True
    adapter_blocks: int = 2
    width: Optional[int] = 32
    expand: int = 6
    kernel: int = 5
    train_tail: bool = False
    tail_frozen_norm: bool = False
    steps: int = 3000
    batch: int = 32
    lr: float = 2e-3
    lr_min: float = 2e-5
    warmup: int = 100
    weight_decay: float = 1e-4
    clip: float = 1.0
    feature_weight: float = 1.0
    kl_weight: float = 1.0
    temperature: float = 1.0
    qualities: Optional[Tuple[float, float]] = None
    data: Tuple[str, ...] = TRAIN_FOLDERS
    downscale: Tuple[Tuple[str, float, float], ...] = (("train-extra/osie", 0.5, 0.75),)
    max_side: int = 448
    validation: str = "train-extra/bsds500/val"
    val_images: int = 100
    val_qualities: Tuple[float, ...] = (1.0, 3.5, 6.0)
    val_every: int = 500
    seed: int = 0
    device: str = "cpu"
    checkpoint_every: int = 100
    init_from: Optional[str] = None

    def __post_init__(self):
        if self.validation in self.data:
            raise InvalidArgumentError(f"the validation folder {self.validation!r} is also a training folder")
        if any("kodak" in d.lower() for d in self.data):
            raise InvalidArgumentError("Kodak is for evaluation only; remove it from the training folders")
        if self.tail_frozen_norm and not self.train_tail:
            raise InvalidArgumentError("tail_frozen_norm applies to a trained tail: set train_tail as well")
        if self.steps < 0 or self.batch < 1 or self.adapter_blocks < 1:
            raise InvalidArgumentError("steps must be >= 0, batch and adapter_blocks >= 1")
        from hmxai.latent.model import ADAPTERS

        if self.adapter not in ADAPTERS:
            raise InvalidArgumentError(f"adapter must be one of {', '.join(ADAPTERS)}, got {self.adapter!r}")
        if self.qualities is not None and (len(self.qualities) != 2 or self.qualities[0] > self.qualities[1]):
            raise InvalidArgumentError(f"qualities must be (low, high), got {self.qualities!r}")

    @classmethod
    def from_json(cls, path: str | Path, **overrides) -> "LatentConfig":
        return cls.from_dict(read_config(path, overrides))

    @classmethod
    def from_dict(cls, raw: dict) -> "LatentConfig":
        unknown = set(raw) - {f.name for f in fields(cls)}
        if unknown:
            raise InvalidArgumentError(f"unknown config keys: {sorted(unknown)}")
        raw = dict(raw)
        try:
            for key in ("data", "val_qualities", "qualities"):
                if raw.get(key) is not None:
                    raw[key] = tuple(float(v) if key != "data" else v for v in raw[key])
            if raw.get("downscale") is not None:
                raw["downscale"] = tuple((str(f), float(lo), float(hi)) for f, lo, hi in raw["downscale"])
            return cls(**raw)
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(f"invalid config: {exc}") from exc

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self)))
