"""Rate-distortion training of a CompressAI architecture, one quality at a time, resumable.

Loss (CompressAI's ``RateDistortionLoss``): ``bpp + lambda * 255^2 * MSE``,
plus the entropy bottleneck's auxiliary loss on its own optimizer. Adam,
linear warm-up then cosine decay, gradient clipping. A checkpoint holds the
model, both optimizers, the step and every random state, so a resumed run
continues exactly where it stopped; it is read back with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
import math
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Optional

import torch
from torch import Tensor, nn

from hmxai.errors import InvalidArgumentError, MissingFileError
from hmxai.train.checkpoint import load_state, save_state
from hmxai.train.config import TrainConfig
from hmxai.train.data import CropSampler


@dataclass(frozen=True)
class StepStats:
    step: int
    loss: float
    bpp: float
    psnr: float
    aux: float
    lr: float


def build_model(config: TrainConfig) -> nn.Module:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        from compressai.zoo.image import model_architectures
    return model_architectures[config.arch](config.N, config.M)


def learning_rate(config: TrainConfig, step: int, total: int) -> float:
    """Linear warm-up to ``lr``, then cosine decay to ``lr_min`` at ``total``."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = min(1.0, (step - config.warmup) / max(1, total - config.warmup))
    return config.lr_min + 0.5 * (config.lr - config.lr_min) * (1 + math.cos(math.pi * progress))


class CodecTrainer:
    """Trains one quality (one lambda) of a config; ``run()`` resumes from ``state.pt``."""

    def __init__(
        self,
        config: TrainConfig,
        quality: int,
        sampler: CropSampler,
        out_dir: str | Path,
        init_state: Optional[Dict[str, Tensor]] = None,
        steps: Optional[int] = None,
    ):
        from compressai.losses import RateDistortionLoss

        self.config = config
        self.quality = quality
        self.lmbda = config.lambdas[quality - 1]
        self.sampler = sampler
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.total = steps if steps is not None else config.steps_for(quality)
        self.device = torch.device(config.device)

        torch.manual_seed(config.seed + quality)
        self.model = build_model(config)
        if init_state is not None:
            self.model.load_state_dict(init_state)
        self.model.to(self.device).train()
        named = dict(self.model.named_parameters())
        main = [p for n, p in named.items() if not n.endswith(".quantiles")]
        aux = [p for n, p in named.items() if n.endswith(".quantiles")]
        self.opt = torch.optim.Adam(main, lr=config.lr)
        self.aux_opt = torch.optim.Adam(aux, lr=config.aux_lr)
        self.criterion = RateDistortionLoss(lmbda=self.lmbda)
        self.generator = torch.Generator().manual_seed(config.seed * 1000 + quality)
        # the quantization noise draws from torch's global generator: this trainer keeps its
        # own copy of that state, so two trainers (or a notebook) never disturb each other
        self._noise_state = torch.get_rng_state()
        self.step = 0
        self.elapsed = 0.0
        self.history: list = []

    @property
    def state_path(self) -> Path:
        return self.out_dir / "state.pt"

    def save(self) -> None:
        state = {
            "model": self.model.state_dict(),
            "opt": self.opt.state_dict(),
            "aux_opt": self.aux_opt.state_dict(),
            "step": self.step,
            "elapsed": self.elapsed,
            "generator": self.generator.get_state(),
            "torch_rng": self._noise_state,
            "history": json.dumps(self.history),
            "config": json.dumps(self.config.to_dict()),
            "quality": self.quality,
            "total": self.total,
        }
        save_state(state, self.state_path)

    def resume(self) -> bool:
        if not self.state_path.is_file():
            return False
        state = load_state(self.state_path, "cpu")  # RNG states must stay CPU tensors; weights move on load
        saved = json.loads(state["config"])
        ignore = ("steps", "warm_steps", "stage_steps", "checkpoint_every", "device")  # step count: via total
        current = json.loads(json.dumps(self.config.to_dict()))  # tuples as JSON lists
        same = all(saved.get(k) == v for k, v in current.items() if k not in ignore)
        if not same or state["quality"] != self.quality or int(state["total"]) != self.total:
            raise InvalidArgumentError(f"{self.state_path} was written by another config, quality or step count")
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        self.aux_opt.load_state_dict(state["aux_opt"])
        self.step = int(state["step"])
        self.elapsed = float(state["elapsed"])
        self.generator.set_state(state["generator"])
        self._noise_state = state["torch_rng"]
        self.history = json.loads(state["history"])
        return True

    def batch_spec(self) -> tuple:
        late = self.step >= self.total * (1 - self.config.late_fraction)
        if late and self.config.late_crop:
            return self.config.late_batch, self.config.late_crop
        return self.config.batch, self.config.crop

    def train_step(self) -> StepStats:
        batch, crop = self.batch_spec()
        x = self.sampler.sample(batch, crop, self.generator).to(self.device)
        lr = learning_rate(self.config, self.step, self.total)
        for group in self.opt.param_groups:
            group["lr"] = lr
        self.opt.zero_grad(set_to_none=True)
        self.aux_opt.zero_grad(set_to_none=True)
        with torch.random.fork_rng(devices=[]):
            torch.set_rng_state(self._noise_state)
            out = self.model(x)
            self._noise_state = torch.get_rng_state()
        losses = self.criterion(out, x)
        losses["loss"].backward()
        if self.config.clip:
            torch.nn.utils.clip_grad_norm_(
                [p for g in self.opt.param_groups for p in g["params"]], self.config.clip
            )
        self.opt.step()
        aux = self.model.aux_loss()
        aux.backward()
        self.aux_opt.step()
        self.step += 1
        mse = float(losses["mse_loss"].detach())
        return StepStats(self.step, float(losses["loss"].detach()), float(losses["bpp_loss"].detach()),
                         10 * math.log10(1 / max(mse, 1e-10)), float(aux.detach()), lr)

    def run(self, progress: bool = True, stop_after: Optional[int] = None,
            on_step: Optional[Callable[[StepStats], None]] = None) -> Path:
        """Train to ``total`` steps (or ``stop_after`` more steps); returns the state path."""
        from tqdm.auto import tqdm

        self.resume()
        target = self.total if stop_after is None else min(self.total, self.step + stop_after)
        bar = tqdm(total=self.total, initial=self.step, desc=f"q{self.quality} lambda={self.lmbda}",
                   disable=not progress)
        ema = None
        try:
            while self.step < target:
                t0 = time.perf_counter()
                stats = self.train_step()
                self.elapsed += time.perf_counter() - t0
                ema = stats if ema is None else StepStats(
                    stats.step, *(0.98 * a + 0.02 * b for a, b in zip(
                        (ema.loss, ema.bpp, ema.psnr, ema.aux), (stats.loss, stats.bpp, stats.psnr, stats.aux))),
                    stats.lr)
                bar.update()
                bar.set_postfix(loss=f"{ema.loss:.3f}", bpp=f"{ema.bpp:.3f}", psnr=f"{ema.psnr:.2f}")
                if on_step is not None:
                    on_step(stats)
                if self.step % 100 == 0:
                    self.history.append([self.step, round(ema.loss, 5), round(ema.bpp, 5), round(ema.psnr, 3)])
                if self.step % self.config.checkpoint_every == 0 or self.step == target:
                    self.save()
        finally:
            bar.close()
        return self.state_path

    def finished(self) -> bool:
        return self.step >= self.total

    def summary(self) -> dict:
        return {
            "quality": self.quality,
            "lambda": self.lmbda,
            "steps": self.step,
            "wall_seconds": round(self.elapsed, 1),
            "device": str(self.device),
            "hardware": f"{platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}",
            "history": self.history,
        }


def train_zoo(config: TrainConfig, data_root: str | Path, out_dir: str | Path,
              qualities=None, progress: bool = True) -> Dict[int, Path]:
    """Train every quality of ``config`` in warm-start order; resumable at any point."""
    from hmxai.train.data import training_paths

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=1))
    sampler = CropSampler(training_paths(data_root, config.data))
    done: Dict[int, Path] = {}
    for q in config.order():
        if qualities is not None and q not in qualities:
            continue
        src = config.warm_start[q - 1]
        init = None
        if config.init_from is not None:
            init = _trained_weights(Path(config.init_from) / f"q{q}", f"quality {q} fine-tunes")
        elif src is not None:
            init = _trained_weights(out_dir / f"q{src}", f"quality {q} warm-starts from q{src}")
        trainer = CodecTrainer(config, q, sampler, out_dir / f"q{q}", init_state=init)
        trainer.run(progress=progress)
        (out_dir / f"q{q}" / "summary.json").write_text(json.dumps(trainer.summary(), indent=1))
        done[q] = trainer.state_path
    return done


def _trained_weights(quality_dir: Path, who: str) -> Dict[str, Tensor]:
    """The model weights of a finished quality folder (``summary.json`` marks it finished)."""
    if not (quality_dir / "summary.json").is_file():
        raise MissingFileError(f"{who}: {quality_dir} has not finished training")
    return load_state(quality_dir / "state.pt", "cpu")["model"]
