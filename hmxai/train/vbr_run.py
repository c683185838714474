"""Running and exporting a variable-rate training run (``hmxai train vbr CONFIG``).

``train_vbr`` loads the training split and the validation images, fits the recipe to a
time budget when one is given (it times a short probe, then scales the stages' steps), trains
(resuming from ``out_dir/state.pt``), and writes ``summary.json``. ``export_vbr`` writes the
exponential moving average as fp16 safetensors, the shipped form. ``pack_training_set`` writes
the split, already shrunk, as compact JPEGs, to carry it to a machine without the data folder.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Dict, List, Optional

import torch

from hmxai.train.checkpoint import load_state

from hmxai.errors import InvalidArgumentError, MissingFileError
from hmxai.train.vbr_config import VbrConfig

_EXTENSIONS = (".jpg", ".jpeg", ".png")


def validation_images(data_root: str | Path, config: VbrConfig) -> List[torch.Tensor]:
    from hmxai.images import load_image

    folder = Path(data_root) / config.validation
    if not folder.is_dir():
        raise MissingFileError(f"validation folder {str(folder)!r} does not exist")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in _EXTENSIONS)[: config.val_images]
    return [load_image(p) for p in paths]


def make_sampler(data_root: str | Path, config: VbrConfig, threads: int = 1):
    from hmxai.train.data import CropSampler, training_paths

    paths = training_paths(data_root, config.data)
    return CropSampler(paths, config.downscale, config.max_side, config.seed, threads=threads,
                       device=config.device)


def fit_to_budget(config: VbrConfig, sampler, validation, seconds: float, probe_steps: int = 40):
    """The recipe scaled to the steps that fit ``seconds`` (a probe of ``probe_steps`` is timed;
    four validations and a final one are budgeted)."""
    import tempfile

    from hmxai.train.vbr import VbrTrainer

    t_probe = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        probe = VbrTrainer(config, sampler, tmp)
        stamps = []

        def tick(_):
            if probe.device.type == "cuda":
                torch.cuda.synchronize(probe.device)
            stamps.append(time.perf_counter())

        half = probe_steps // 2
        probe.run(progress=False, stop_after=probe_steps, on_step=tick)
        per_step = (stamps[-1] - stamps[half]) / max(1, len(stamps) - 1 - half)
        t0 = time.perf_counter()
        if validation:
            probe.validation = validation
            probe.validate()
        per_val = time.perf_counter() - t0
    left = seconds - (time.perf_counter() - t_probe) - 5 * per_val
    steps = int(max(10, left / per_step))
    scaled = config.scaled_to(steps)
    from dataclasses import replace

    return replace(scaled, val_every=max(1, steps // 4)), {"seconds_per_step": per_step,
                                                            "seconds_per_validation": per_val}


def fast_cuda(device: str) -> None:
    """On a GPU: fixed crop sizes, so let cuDNN pick its fastest kernels (and TF32 matmuls)."""
    if torch.device(device).type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def train_vbr(config: VbrConfig, data_root: str | Path, out_dir: str | Path, progress: bool = True,
              time_budget: Optional[float] = None, threads: int = 1, on_checkpoint=None) -> Path:
    """Train (or resume) a run; returns ``out_dir/state.pt``. ``time_budget`` (seconds): a fresh
    run is scaled to fit it, and the scaled config is what ``out_dir/config.json`` records."""
    from hmxai.train.vbr import VbrTrainer

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fast_cuda(config.device)
    t_start = time.perf_counter()
    sampler = make_sampler(data_root, config, threads)
    validation = validation_images(data_root, config) if config.val_images else []
    cfg_path = out_dir / "config.json"
    facts: Dict = {"training_images": len(sampler), "load_seconds": round(time.perf_counter() - t_start, 1)}
    if cfg_path.is_file():  # resuming: the recorded config rules (a time-fitted one included)
        recorded = VbrConfig.from_json(cfg_path, device=config.device)
        config = recorded
    elif time_budget is not None:
        left = time_budget - (time.perf_counter() - t_start)
        config, timing = fit_to_budget(config, sampler, validation, left * 0.97)
        facts.update(timing)
    cfg_path.write_text(json.dumps(config.to_dict(), indent=1))
    trainer = VbrTrainer(config, sampler, out_dir, validation)
    trainer.run(progress=progress, on_checkpoint=on_checkpoint)
    summary = trainer.summary()
    summary.update(facts, config=config.to_dict())
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    return trainer.state_path


def export_vbr(run_dir: str | Path, path: str | Path, which: str = "ema", fp16: bool = True) -> Path:
    """Write a run's weights (``ema`` or ``model``) as safetensors, fp16 for large float tensors.
    ``run_dir`` may also be a weights file (safetensors) next to which the run's config lies
    as ``<name>-log.json`` (what a GPU run sends back) or given by its folder's ``config.json``."""
    from hmxai.train.vbr import build_vbr_model, load_vbr_weights

    run_dir = Path(run_dir)
    if run_dir.is_file():
        log = next(run_dir.parent.glob("*-log.json"), None)
        log = json.loads(log.read_text()) if log else {}
        cfg = run_dir.parent / "config.json"
        raw = json.loads(cfg.read_text()) if cfg.is_file() else log["config"]
        config, weights = VbrConfig.from_dict(raw), load_vbr_weights(run_dir)
        steps = log.get("steps", 0)
    else:
        config = VbrConfig.from_json(run_dir / "config.json")
        state = load_state(run_dir / "state.pt", "cpu")
        weights, steps = state[which], int(state["step"])
    model = build_vbr_model(config)
    model.load_state_dict(weights)
    return save_vbr_weights(model, config, path, steps, which, fp16)


def save_vbr_weights(model, config: VbrConfig, path: str | Path, steps: int, which: str = "ema",
                     fp16: bool = True) -> Path:
    from safetensors.torch import save_file

    from hmxai.train.export import FP16_MIN_ELEMENTS

    model.update(force=True)
    out = {}
    for key, value in model.state_dict().items():
        value = value.detach().cpu().contiguous()
        if fp16 and value.is_floating_point() and value.numel() >= FP16_MIN_ELEMENTS:
            value = value.half()
        out[key] = value
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(out, str(path), metadata={
        "name": config.name, "arch": "mbt2018-mean-vbr", "N": str(config.N), "M": str(config.M),
        "lambdas": json.dumps(list(config.lambdas)), "steps": str(int(steps)), "weights": which,
    })
    return path


def stage_facts(run_dir: str | Path) -> Dict:
    """What one run (a stage of the shipped weights) did: its config, steps, wall time, device,
    validation log. Read from ``summary.json`` (or, for a GPU run's return, ``*-log.json``), or
    from the checkpoint of a run still going."""
    run_dir = Path(run_dir)
    summary = run_dir / "summary.json"
    log = summary if summary.is_file() else next(run_dir.glob("*-log.json"), None)
    if log is not None:
        facts = json.loads(log.read_text())
        if "config" not in facts:
            facts["config"] = json.loads((run_dir / "config.json").read_text())
    else:
        state = load_state(run_dir / "state.pt", "cpu")
        facts = {"steps": int(state["step"]), "wall_seconds": round(float(state["elapsed"]), 1),
                 "device": "cpu", "history": json.loads(state["history"]),
                 "validation": json.loads(state["val_log"]),
                 "config": json.loads((run_dir / "config.json").read_text()), "running": True}
    facts["run"] = run_dir.name
    return facts


def _run_config(run_dir: Path) -> Dict:
    """A run folder's config: ``config.json``, or the one a GPU run's ``*-log.json`` carries."""
    if (run_dir / "config.json").is_file():
        return json.loads((run_dir / "config.json").read_text())
    log = next(run_dir.glob("*-log.json"), None)
    if log is None:
        raise MissingFileError(f"{str(run_dir)!r} has no config.json nor *-log.json: not a training run folder")
    return json.loads(log.read_text())["config"]


def stage_chain(run_dir: str | Path) -> List[Path]:
    """The run folders that led to ``run_dir``, first first: each stage's ``init_from`` names the
    weights its predecessor exported (relative paths from the working directory)."""
    here = Path(run_dir)
    chain, here = [], here.parent if here.is_file() else here
    while True:
        chain.insert(0, here)
        init = _run_config(here).get("init_from")
        if not init:
            return chain
        here = Path(init).parent
        if here in chain or len(chain) > 20:
            raise InvalidArgumentError(f"the init_from chain of {run_dir} loops")


def training_record(run_dirs, notes=()) -> Dict:
    """The shipped weights' training facts: every stage (first first) and, per named quality,
    its lambda and the total steps and wall time (the shape ``hmxai info`` reads)."""
    stages = [stage_facts(d) for d in run_dirs]
    final = stages[-1]["config"]
    steps = sum(int(s["steps"]) for s in stages)
    wall = round(sum(float(s["wall_seconds"]) for s in stages), 1)
    qualities = {str(q): {"lambda": lam, "steps": steps, "wall_seconds": wall, "warm_start": None}
                 for q, lam in enumerate(final["lambdas"], start=1)}
    return {"config": final, "stages": stages, "qualities": qualities, "notes": list(notes)}


def pack_training_set(data_root: str | Path, config: VbrConfig, out_dir: str | Path, parts: int = 2,
                      quality: int = 90, max_side: int = 448) -> Dict:
    """The training split, shrunk as the config says and to ``max_side``, as JPEG (4:4:4,
    ``quality``) in ``parts`` folders of about equal size, plus the validation images as they are.

    For moving the split to a machine without the data folder (a lent GPU); the JPEG step adds
    error about 40 dB below the images, far under the codec's own at its highest rate.
    """
    import shutil

    from hmxai.images import to_pil
    from hmxai.train.data import image_sizes, load_uint8, shrink_factors, training_paths

    out_dir = Path(out_dir)
    paths = training_paths(data_root, config.data)
    factors = shrink_factors(paths, config.downscale, max_side, image_sizes(paths), config.seed)
    rows, sizes = [], [0] * parts
    for i, (p, f) in enumerate(zip(paths, factors)):
        x = load_uint8(p, f).float().div(255).unsqueeze(0)
        part = min(range(parts), key=lambda k: sizes[k])
        folder = out_dir / f"part{part + 1}"
        folder.mkdir(parents=True, exist_ok=True)
        rel = p.relative_to(data_root).as_posix()
        name = f"{i:05d}_" + rel.replace("/", "__").rsplit(".", 1)[0] + ".jpg"
        to_pil(x).save(folder / name, format="JPEG", quality=quality, subsampling=0)
        sizes[part] += (folder / name).stat().st_size
        rows.append({"file": f"part{part + 1}/{name}", "source": rel, "factor": round(f, 4)})
    val_dir = out_dir / "val"
    val_dir.mkdir(parents=True, exist_ok=True)
    val = sorted(p for p in (Path(data_root) / config.validation).iterdir()
                 if p.suffix.lower() in _EXTENSIONS)[: config.val_images]
    for p in val:
        shutil.copyfile(p, val_dir / p.name)
    manifest = {"source_root": str(data_root), "jpeg_quality": quality, "max_side": max_side,
                "parts": sizes, "images": rows, "validation": [p.name for p in val]}
    (out_dir / "pack.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def main(argv=None) -> None:
    """``python -m hmxai.train.vbr_run CONFIG --data-root D --out RUN [--device cuda]
    [--time-budget S] [--threads T] [--export-to DIR] [--single-rate-ab]``: the same as
    ``hmxai train vbr``, importable without the CLI (for a bare GPU machine)."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m hmxai.train.vbr_run")
    p.add_argument("config")
    p.add_argument("--data-root", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--device", default=None)
    p.add_argument("--time-budget", type=float, default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--export-to", default=None, help="after every checkpoint, export the weights here")
    p.add_argument("--export-fp32", action="store_true", help="export full precision (to continue training)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=JSON", help="override a config key")
    a = p.parse_args(argv)
    overrides = {k: json.loads(v) for k, v in (s.split("=", 1) for s in a.set)}
    config = VbrConfig.from_json(a.config, device=a.device, **overrides)
    hook = None
    if a.export_to:
        dest = Path(a.export_to)
        dest.mkdir(parents=True, exist_ok=True)

        def hook(trainer):
            export_vbr(trainer.out_dir, dest / f"{config.name}-ema.safetensors", "ema", fp16=not a.export_fp32)
            summary = trainer.summary()
            summary["config"] = trainer.config.to_dict()
            (dest / f"{config.name}-log.json").write_text(json.dumps(summary))

    state = train_vbr(config, a.data_root, a.out, time_budget=a.time_budget, threads=a.threads, on_checkpoint=hook)
    print(json.dumps({"state": str(state), "summary": str(Path(a.out) / "summary.json")}))


if __name__ == "__main__":
    main()
