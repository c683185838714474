"""Export trained qualities as the shipped zoo: compact safetensors (fp16) plus their facts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List

import torch

from hmxai.train.checkpoint import load_state

from hmxai.errors import MissingFileError
from hmxai.train.codec import build_model
from hmxai.train.config import TrainConfig

#: float tensors at least this large are stored in fp16; smaller ones stay fp32
FP16_MIN_ELEMENTS = 1024


def compact_state_dict(model: torch.nn.Module) -> Dict[str, torch.Tensor]:
    """The model's state dict with large float tensors in fp16 (CDF tables stay int32)."""
    out = {}
    for key, value in model.state_dict().items():
        value = value.detach().cpu().contiguous()
        if value.is_floating_point() and value.numel() >= FP16_MIN_ELEMENTS:
            value = value.half()
        out[key] = value
    return out


def quality_facts(run_dir: Path, q: int) -> Dict:
    """Training facts of quality q, summed over a chain of fine-tuning stages (``init_from``).

    ``steps`` and ``wall_seconds`` are totals; ``stages`` lists each stage from the first.
    ``warm_start`` is the first stage's (where the chain began).
    """
    config = TrainConfig.from_json(run_dir / "config.json")
    stage = json.loads((run_dir / f"q{q}" / "summary.json").read_text())
    stage.pop("history", None)
    stage.update(warm_start=config.warm_start[q - 1], lr=config.lr, run=run_dir.name)
    if config.init_from is None:
        return {**stage, "stages": [stage]}
    earlier = quality_facts(Path(config.init_from), q)
    return {**stage, "warm_start": earlier["warm_start"], "steps": earlier["steps"] + stage["steps"],
            "wall_seconds": round(earlier["wall_seconds"] + stage["wall_seconds"], 1),
            "stages": earlier["stages"] + [stage]}


def stage_configs(run_dir: Path) -> List[Dict]:
    """The configs of every stage leading to ``run_dir``, first stage first."""
    config = TrainConfig.from_json(Path(run_dir) / "config.json")
    earlier = stage_configs(Path(config.init_from)) if config.init_from is not None else []
    return earlier + [config.to_dict()]


def export_zoo(run_dir: str | Path, out_dir: str | Path, name: str = "hmxai-msh") -> List[Path]:
    """Write ``{name}-q{q}.safetensors`` and ``training.json`` for every trained quality."""
    from safetensors.torch import save_file

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    config = TrainConfig.from_json(run_dir / "config.json")
    out_dir.mkdir(parents=True, exist_ok=True)
    written, facts = [], {"config": config.to_dict(), "qualities": {}}
    for q in range(1, len(config.lambdas) + 1):
        summary_path = run_dir / f"q{q}" / "summary.json"
        if not summary_path.is_file():
            raise MissingFileError(f"quality {q} has not finished training in {run_dir}")
        state = load_state(run_dir / f"q{q}" / "state.pt", "cpu")
        model = build_model(config)
        model.load_state_dict(state["model"])
        model.update(force=True)
        path = out_dir / f"{name}-q{q}.safetensors"
        save_file(compact_state_dict(model), str(path), metadata={
            "name": name, "quality": str(q), "arch": config.arch, "N": str(config.N), "M": str(config.M),
            "lambda": str(config.lambdas[q - 1]),
        })
        written.append(path)
        facts["qualities"][str(q)] = quality_facts(run_dir, q)
    facts["stages"] = stage_configs(run_dir)
    (out_dir / "training.json").write_text(json.dumps(facts, indent=1))
    written.append(out_dir / "training.json")
    return written
