"""Training hmxai's variable-rate codec: one model for every rate, resumable, with EMA and validation.

The recipe (``VbrConfig`` holds its numbers; ``docs/model-card.md`` says why):

* stage 1: the highest lambda only, CompressAI's plain mean-scale path (additive noise);
* stage 2: one quality drawn uniformly in [1, L] per batch; CompressAI's variable-rate path:
  the rate from additive noise, the decoder fed straight-through rounded symbols plus
  the learned reconstruction offsets (mixed quantization);
* stage 3: the rate from straight-through rounded values too, at a lower learning rate.

Loss: ``bpp + lambda * 255^2 * MSE``; the entropy bottleneck's quantiles train on their own
auxiliary loss. An exponential moving average of the weights is kept and exported. A
checkpoint holds the model, the average, both optimizers, the step, every random state and
the log; it is written atomically and read back with ``torch.load(weights_only=True)``, so a
killed run resumes where it stopped, identically.
"""

from __future__ import annotations

import json
import math
import platform
import time
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional

import torch
from torch import Tensor, nn

from hmxai.errors import InvalidArgumentError
from hmxai.train.checkpoint import load_state, save_state
from hmxai.train.vbr_config import VbrConfig


@dataclass(frozen=True)
class VbrStepStats:
    step: int
    stage: int
    quality: float
    lmbda: float
    loss: float
    bpp: float
    psnr: float
    aux: float
    lr: float
    machine: float = 0.0  # the machine term of a joint run (hmxai.train.joint); 0 for the human codec


def build_vbr_model(config: VbrConfig) -> nn.Module:
    from hmxai.codecs.vbr_model import VariableRateMSH

    return VariableRateMSH(config.N, config.M, config.lambdas)


def load_vbr_weights(path) -> Dict[str, Tensor]:
    """fp32 state dict of an exported variable-rate model (safetensors, no pickle); ``zoo:NAME``
    names the package's own weights (``zoo:hmxai-vbr``)."""
    from hmxai.codecs.checkpoints import load_state_dict

    if str(path).startswith("zoo:"):
        from hmxai.codecs.zoo import zoo_weights_path

        path = zoo_weights_path(str(path)[4:])
    return {k: v.float() if v.is_floating_point() else v for k, v in load_state_dict(path).items()}


def _ste_quantize(self, inputs: Tensor, mode: str, means: Optional[Tensor] = None) -> Tensor:
    """An entropy model's ``quantize`` whose rounding passes gradients straight through."""
    if mode != "dequantize":
        return type(self).quantize(self, inputs, mode, means)
    centre = means if means is not None else 0.0
    rounded = torch.round(inputs - centre) + centre
    return inputs + (rounded - inputs).detach()


def set_ste_rate(model: nn.Module, on: bool) -> None:
    """Stage 3: likelihoods of straight-through rounded values (entropy models in eval mode)."""
    for module in (model.entropy_bottleneck, model.gaussian_conditional):
        if on:
            module.quantize = types.MethodType(_ste_quantize, module)
            module.eval()
        else:
            module.__dict__.pop("quantize", None)
            module.train(model.training)


def rd_loss(out: Dict, x: Tensor, lmbda: float) -> Dict[str, Tensor]:
    """``bpp + lambda * 255^2 * MSE`` (CompressAI's RateDistortionLoss), bpp over the crop's pixels."""
    n, _, h, w = x.shape
    pixels = n * h * w
    bpp = sum(torch.log(lik).sum() for lik in out["likelihoods"].values()) / (-math.log(2) * pixels)
    mse = torch.mean((out["x_hat"] - x) ** 2)
    return {"loss": bpp + lmbda * 255**2 * mse, "bpp": bpp, "mse": mse}


class VbrTrainer:
    """Trains one variable-rate model; ``run()`` resumes from ``out_dir/state.pt``."""

    def __init__(self, config: VbrConfig, sampler, out_dir: str | Path,
                 validation: Optional[List[Tensor]] = None):
        self.config = config
        self.sampler = sampler
        self.validation = validation or []
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.device = torch.device(config.device)
        torch.manual_seed(config.seed)
        self.model = self.build_model()
        if config.init_from is not None and not (self.out_dir / "state.pt").is_file():  # a resumed run has its own
            self.load_init(self.model, load_vbr_weights(config.init_from))
        self.model = self.model.to(self.device).train()
        self.ema = self.build_model().to(self.device)
        self.ema.load_state_dict(self.model.state_dict())
        self.ema.requires_grad_(False)
        named = dict(self.model.named_parameters())
        main = [p for n, p in named.items() if not n.endswith(".quantiles") and p.requires_grad]
        aux = [p for n, p in named.items() if n.endswith(".quantiles") and p.requires_grad]
        self.opt = torch.optim.Adam(main, lr=config.lr)
        self.aux_opt = torch.optim.Adam(aux, lr=config.aux_lr) if aux else None  # None: a frozen entropy model
        self.generator = torch.Generator().manual_seed(config.seed * 1000 + 7)
        # quantization noise draws from torch's global generator: keep a private copy of its state
        self._noise_state = torch.get_rng_state()
        self._cuda_noise_state = torch.cuda.get_rng_state() if self.device.type == "cuda" else None
        self.step = 0
        self.elapsed = 0.0
        self.history: list = []
        self.val_log: list = []

    # ------------------------------------------------------------------ what a subclass changes
    def build_model(self) -> nn.Module:
        """A fresh model of this run's architecture (on the CPU)."""
        return build_vbr_model(self.config)

    def load_init(self, model: nn.Module, weights: Dict[str, Tensor]) -> None:
        """Start ``model`` from ``config.init_from``'s weights."""
        model.load_state_dict(weights)

    def objective(self, out: Dict, x: Tensor, lmbda: float) -> Dict[str, Tensor]:
        """The training loss of one batch (``loss`` is minimized; the other entries are logged)."""
        return rd_loss(out, x, lmbda)

    # ------------------------------------------------------------------ state
    @property
    def state_path(self) -> Path:
        return self.out_dir / "state.pt"

    def save(self) -> None:
        state = {
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict(),
            "opt": self.opt.state_dict(),
            "aux_opt": self.aux_opt.state_dict() if self.aux_opt is not None else {},
            "step": self.step,
            "elapsed": self.elapsed,
            "generator": self.generator.get_state(),
            "torch_rng": self._noise_state,
            "history": json.dumps(self.history),
            "val_log": json.dumps(self.val_log),
            "config": json.dumps(self.config.to_dict()),
        }
        if self._cuda_noise_state is not None:
            state["cuda_rng"] = self._cuda_noise_state
        save_state(state, self.state_path)

    def resume(self) -> bool:
        if not self.state_path.is_file():
            return False
        state = load_state(self.state_path, "cpu")  # RNG states must stay CPU tensors; weights move on load
        saved = json.loads(state["config"])
        ignore = ("device", "checkpoint_every", "val_every")
        differs = [k for k, v in self.config.to_dict().items() if k not in ignore and saved.get(k) != v]
        if differs:
            raise InvalidArgumentError(f"{self.state_path} was written by another config (differs in {differs})")
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.opt.load_state_dict(state["opt"])
        if self.aux_opt is not None:
            self.aux_opt.load_state_dict(state["aux_opt"])
        self.step = int(state["step"])
        self.elapsed = float(state["elapsed"])
        self.generator.set_state(state["generator"])
        self._noise_state = state["torch_rng"]
        if "cuda_rng" in state and self.device.type == "cuda":
            self._cuda_noise_state = state["cuda_rng"]
        self.history = json.loads(state["history"])
        self.val_log = json.loads(state["val_log"])
        return True

    # ------------------------------------------------------------------ one step
    def learning_rate(self, step: int) -> float:
        c = self.config
        if c.stage(step) == 3:
            return c.lr_stage3
        if step < c.warmup:
            return c.lr * (step + 1) / c.warmup
        span = max(1, c.stage_steps[0] + c.stage_steps[1] - c.warmup)
        progress = min(1.0, (step - c.warmup) / span)
        return c.lr_min + 0.5 * (c.lr - c.lr_min) * (1 + math.cos(math.pi * progress))

    def draw_quality(self, stage: int) -> float:
        c = self.config
        if c.fixed_quality is not None:
            return float(c.fixed_quality)
        if stage == 1:
            return float(len(c.lambdas))
        u = float(torch.rand((), generator=self.generator, dtype=torch.float64))
        return 1.0 + u * (len(c.lambdas) - 1)

    def train_step(self) -> VbrStepStats:
        c = self.config
        stage = c.stage(self.step)
        q = self.draw_quality(stage)
        lmbda = self.model.scale.lmbda(q)
        gain = torch.tensor(1.0 if c.fixed_quality is not None else self.model.scale.gain(q), device=self.device)
        x = self.sampler.sample(c.batch, c.crop, self.generator).to(self.device)
        lr = self.learning_rate(self.step)
        for group in self.opt.param_groups:
            group["lr"] = lr
        self.opt.zero_grad(set_to_none=True)
        if self.aux_opt is not None:
            self.aux_opt.zero_grad(set_to_none=True)
        set_ste_rate(self.model, stage == 3)
        try:
            devices = [self.device.index or 0] if self.device.type == "cuda" else []
            with torch.random.fork_rng(devices=devices):
                torch.set_rng_state(self._noise_state)
                if self._cuda_noise_state is not None:
                    torch.cuda.set_rng_state(self._cuda_noise_state, self.device)
                if stage == 1:
                    out = self.model(x, stage=1)
                else:
                    out = self.model(x, stage=2, inputscale=gain)
                self._noise_state = torch.get_rng_state()
                if self._cuda_noise_state is not None:
                    self._cuda_noise_state = torch.cuda.get_rng_state(self.device)
            losses = self.objective(out, x, lmbda)
            losses["loss"].backward()
            if c.clip:
                torch.nn.utils.clip_grad_norm_([p for g in self.opt.param_groups for p in g["params"]], c.clip)
            self.opt.step()
            aux = self.model.aux_loss()
            if self.aux_opt is not None:
                aux.backward()
                self.aux_opt.step()
        finally:
            set_ste_rate(self.model, False)  # also on an error or Ctrl-C mid-step
        self._update_ema()
        self.step += 1
        mse = float(losses["mse"].detach())
        return VbrStepStats(self.step, stage, q, lmbda, float(losses["loss"].detach()),
                            float(losses["bpp"].detach()), 10 * math.log10(1 / max(mse, 1e-10)),
                            float(aux.detach()), lr, float(losses.get("machine", torch.zeros(())).detach()))

    @torch.no_grad()
    def _update_ema(self) -> None:
        d = self.config.ema_decay if self.step >= self.config.warmup else 0.0
        ema = dict(self.ema.named_parameters())
        for name, p in self.model.named_parameters():
            ema[name].lerp_(p.detach(), 1.0 - d)

    # ------------------------------------------------------------------ validation
    def validate(self, model: Optional[nn.Module] = None) -> Dict:
        """Real bitstreams of the validation images at ``val_qualities``, on a CPU copy."""
        weights = (model or self.ema).state_dict()
        cpu = self.build_model()
        cpu.load_state_dict({k: v.detach().cpu() for k, v in weights.items()})
        row = {"step": self.step, "qualities": {}}
        for q in self.config.val_qualities:
            row["qualities"][str(q)] = evaluate_bitstreams(cpu, self.validation, q,
                                                           single=self.config.fixed_quality is not None,
                                                           task=self.validation_task())
        return row

    def validation_task(self):
        """A classifier whose top-1 agreement (decoded vs original) validation also reports; None: none."""
        return None

    def history_row(self, stats: VbrStepStats, avg: Dict[str, float]) -> list:
        return [self.step, stats.stage, round(avg["loss"], 5), round(avg["bpp"], 5), round(avg["psnr"], 3)]

    # ------------------------------------------------------------------ loop
    def run(self, progress: bool = True, stop_after: Optional[int] = None,
            on_step: Optional[Callable[[VbrStepStats], None]] = None,
            on_checkpoint: Optional[Callable[["VbrTrainer"], None]] = None) -> Path:
        from tqdm.auto import tqdm

        self.resume()
        total = self.config.total
        target = total if stop_after is None else min(total, self.step + stop_after)
        bar = tqdm(total=total, initial=self.step, desc=f"{self.config.name}", disable=not progress)
        avg = None
        try:
            while self.step < target:
                t0 = time.perf_counter()
                stats = self.train_step()
                self.elapsed += time.perf_counter() - t0
                keys = ("loss", "bpp", "psnr", "aux", "machine")
                now = {k: getattr(stats, k) for k in keys}
                avg = now if avg is None else {k: 0.98 * avg[k] + 0.02 * now[k] for k in keys}
                bar.update()
                bar.set_postfix(stage=stats.stage, loss=f"{avg['loss']:.3f}", bpp=f"{avg['bpp']:.3f}")
                if on_step is not None:
                    on_step(stats)
                if self.step % 100 == 0:
                    self.history.append(self.history_row(stats, avg))
                if self.validation and (self.step % self.config.val_every == 0 or self.step == total):
                    self.val_log.append(self.validate())
                if self.step % self.config.checkpoint_every == 0 or self.step == target:
                    self.save()
                    if on_checkpoint is not None:
                        on_checkpoint(self)
        finally:
            bar.close()
        return self.state_path

    def finished(self) -> bool:
        return self.step >= self.config.total

    def summary(self) -> Dict:
        return {
            "name": self.config.name,
            "steps": self.step,
            "stage_steps": list(self.config.stage_steps),
            "wall_seconds": round(self.elapsed, 1),
            "device": str(self.device) if self.device.type != "cuda" else torch.cuda.get_device_name(self.device),
            "hardware": f"{platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}",
            "history": self.history,
            "validation": self.val_log,
        }


@torch.no_grad()
def evaluate_bitstreams(model: nn.Module, images: List[Tensor], quality: float, single: bool = False,
                       task=None) -> Dict:
    """Mean measured bpp (real bytes) and PSNR of ``images`` ((1, 3, H, W) in [0, 1]) at ``quality``;
    with a ``task`` (a classifier) also its top-1 agreement between decoded and original images."""
    from hmxai.images import crop_to, pad_to_multiple

    model = model.eval()
    model.update(force=True)
    gain = torch.tensor(1.0 if single else model.scale.gain(quality))
    bpps, psnrs, agree = [], [], []
    for x in images:
        xp, size = pad_to_multiple(x, 64)
        enc = model.compress(xp, stage=2, inputscale=gain)
        nbytes = sum(len(s[0]) for s in enc["strings"])
        x_hat = crop_to(model.decompress(enc["strings"], enc["shape"], stage=2, inputscale=gain)["x_hat"], size)
        mse = float(torch.mean((x_hat - x) ** 2))
        bpps.append(8 * nbytes / (size[0] * size[1]))
        psnrs.append(10 * math.log10(1 / max(mse, 1e-10)))
        if task is not None:
            agree.append(float(task(x).argmax(-1).item() == task(x_hat.clamp(0, 1)).argmax(-1).item()))
    out = {"measured_bpp": sum(bpps) / len(bpps), "psnr": sum(psnrs) / len(psnrs)}
    if agree:
        out["agreement"] = sum(agree) / len(agree)
    return out
