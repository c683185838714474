"""Training a codec for humans and machines: ``L = R + λh·D_h(x, x̂) + λm·D_m`` (``hmxai train joint``).

The human codec (hmxai-vbr) is the starting point. ``D_h`` is its own distortion (MSE, weighted
by its own ``λ(q)·255²`` at the batch's quality, times ``lambda_h``); ``D_m`` is distillation from
the task model (EfficientNet-Lite0): the KL divergence between its predictions on ``x`` and on
``x̂``, plus optional feature matching at its Grad-CAM layer. Two variants
(:class:`~hmxai.train.joint_config.JointConfig`): ``full`` fine-tunes the whole codec;
``adapter`` trains only a light module on the latent (the research's dynamic adaptation) with the
human codec frozen. Everything else (stages, EMA, validation with real bitstreams, resumable
checkpoints) is :class:`~hmxai.train.vbr.VbrTrainer`'s.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hmxai.codecs.adaptation import ADAPTER_PREFIX
from hmxai.errors import InvalidArgumentError
from hmxai.train.joint_config import JointConfig
from hmxai.train.vbr import VbrStepStats, VbrTrainer, build_vbr_model, rd_loss


def build_joint_model(config: JointConfig) -> nn.Module:
    """The codec a joint run trains: the human architecture, plus the latent adapter for ``adapter``."""
    model = build_vbr_model(config)
    if config.variant == "adapter":
        model.add_adapter(config.adapter_hidden)
        for name, p in model.named_parameters():
            p.requires_grad_(name.startswith(ADAPTER_PREFIX))
    return model


def trainable(model: nn.Module) -> List[str]:
    """Names of the parameters a joint run changes."""
    return [n for n, p in model.named_parameters() if p.requires_grad]


class MachineTerm(nn.Module):
    """``D_m(x, x̂)``: the teacher's KL divergence (and feature distance) between ``x`` and ``x̂``.

    The teacher is frozen and in inference mode (its batch-norm statistics never move); gradients
    flow through it to ``x̂``.
    """

    def __init__(self, teacher, temperature: float = 1.0, feature_weight: float = 0.0):
        super().__init__()
        self.teacher = teacher.eval()  # the term owns its teacher: frozen, in inference mode
        self.teacher.requires_grad_(False)
        self.temperature = float(temperature)
        self.feature_weight = float(feature_weight)
        if self.feature_weight and teacher.target_layer is None:
            raise InvalidArgumentError(f"feature matching needs the teacher's target layer; {teacher.name} has none")

    def _run(self, x: Tensor):
        feats: List[Tensor] = []
        hook = None
        if self.feature_weight:
            hook = self.teacher.target_layer.register_forward_hook(lambda m, i, o: feats.append(o))
        try:
            logits = self.teacher(x)
        finally:
            if hook is not None:
                hook.remove()
        return logits, (feats[0] if feats else None)

    def forward(self, x: Tensor, x_hat: Tensor) -> Dict[str, Tensor]:
        T = self.temperature
        with torch.no_grad():
            ref, ref_feat = self._run(x)
        out, feat = self._run(x_hat)
        kl = F.kl_div(F.log_softmax(out / T, -1), F.log_softmax(ref / T, -1), log_target=True,
                      reduction="batchmean") * T * T
        terms = {"kl": kl}
        if self.feature_weight:
            terms["feature"] = ((feat - ref_feat) ** 2).mean() / (ref_feat**2).mean().clamp_min(1e-12)
        terms["machine"] = kl + self.feature_weight * terms.get("feature", torch.zeros_like(kl))
        return terms


def joint_loss(out: Dict, x: Tensor, lmbda: float, config: JointConfig,
               machine: Optional[MachineTerm]) -> Dict[str, Tensor]:
    """``bpp + lambda_h·λ(q)·255²·MSE + lambda_m·D_m``; with ``lambda_h = 1`` and ``lambda_m = 0``
    exactly :func:`~hmxai.train.vbr.rd_loss` (the machine term is not even computed)."""
    human = rd_loss(out, x, lmbda * config.lambda_h)
    if not config.lambda_m:
        return {**human, "machine": torch.zeros((), device=x.device)}
    if machine is None:
        raise InvalidArgumentError("lambda_m > 0 needs the machine term (a teacher)")
    terms = machine(x, out["x_hat"])
    return {**human, **terms, "loss": human["loss"] + config.lambda_m * terms["machine"]}


class JointTrainer(VbrTrainer):
    """Trains a machine-aware codec from the human one; ``run()`` resumes from ``out_dir/state.pt``."""

    def __init__(self, config: JointConfig, sampler, out_dir: str | Path,
                 validation: Optional[List[Tensor]] = None, teacher=None):
        if not isinstance(config, JointConfig):
            raise InvalidArgumentError("JointTrainer needs a JointConfig")
        super().__init__(config, sampler, out_dir, validation)
        if teacher is None and (config.lambda_m or config.val_task):
            from hmxai.tasks import create_task

            teacher = create_task(config.teacher)
        self.teacher = teacher
        self.machine = (MachineTerm(teacher, config.temperature, config.feature_weight).to(self.device)
                        if teacher is not None else None)

    def build_model(self) -> nn.Module:
        return build_joint_model(self.config)

    def load_init(self, model: nn.Module, weights: Dict[str, Tensor]) -> None:
        try:
            missing, unexpected = model.load_state_dict(weights, strict=False)
        except RuntimeError as exc:  # a tensor of another shape: another architecture
            raise InvalidArgumentError(f"{self.config.init_from}: not this run's codec ({str(exc)[:200]})") from None
        if unexpected or any(not k.startswith(ADAPTER_PREFIX) for k in missing):
            raise InvalidArgumentError(f"{self.config.init_from}: not this run's codec "
                                       f"(missing {missing[:3]}, unexpected {unexpected[:3]})")

    def objective(self, out: Dict, x: Tensor, lmbda: float) -> Dict[str, Tensor]:
        return joint_loss(out, x, lmbda, self.config, self.machine)

    def validation_task(self):
        """The teacher, on the CPU where validation runs (a copy when training runs elsewhere)."""
        if not self.config.val_task or self.teacher is None:
            return None
        if next(self.teacher.parameters()).device.type == "cpu":
            return self.teacher
        if getattr(self, "_cpu_teacher", None) is None:
            import copy

            self._cpu_teacher = copy.deepcopy(self.teacher).cpu()
        return self._cpu_teacher

    def history_row(self, stats: VbrStepStats, avg: Dict[str, float]) -> list:
        return super().history_row(stats, avg) + [round(avg["machine"], 5)]


def train_joint(config: JointConfig, data_root: str | Path, out_dir: str | Path, progress: bool = True,
                threads: Optional[int] = None, stop_after: Optional[int] = None) -> Path:
    """Train (or resume) a joint run in ``out_dir``; writes ``config.json`` and ``summary.json``."""
    from hmxai.train.vbr_run import fast_cuda, make_sampler, validation_images

    if threads:
        torch.set_num_threads(threads)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fast_cuda(config.device)
    sampler = make_sampler(data_root, config, threads=threads or 1)
    validation = validation_images(data_root, config) if config.val_images else []
    trainer = JointTrainer(config, sampler, out_dir, validation)
    trainer.resume()  # refuses a checkpoint of another config before anything is written
    (out_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=1))
    trainer.run(progress=progress, stop_after=stop_after)
    summary = trainer.summary()
    summary.update(config=config.to_dict(), trainable=len(trainable(trainer.model)),
                   init_weights_id=_weights_id(config.init_from),
                   trainable_parameters=sum(p.numel() for p in trainer.model.parameters() if p.requires_grad))
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    return trainer.state_path


def _weights_id(path) -> Optional[str]:
    """Short hash of the starting weights' file (the human codec it was trained from)."""
    import hashlib

    if path is None:
        return None
    if str(path).startswith("zoo:"):
        from hmxai.codecs.zoo import zoo_weights_path

        path = zoo_weights_path(str(path)[4:])
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def export_joint(run_dir: str | Path, path: str | Path, which: str = "ema") -> Path:
    """A joint run's average as fp16 safetensors (with the adapter's keys for ``adapter``), the shipped form."""
    from hmxai.train.checkpoint import load_state
    from hmxai.train.vbr_run import save_vbr_weights

    run_dir = Path(run_dir)
    state = load_state(run_dir / "state.pt", "cpu")
    config = JointConfig.from_dict(json.loads(state["config"]))  # the checkpoint's own config
    model = build_joint_model(config)
    model.load_state_dict(state[which])
    return save_vbr_weights(model, config, path, int(state["step"]), which)
