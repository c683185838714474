"""What sharing one model across rates costs: the A/B of issue 12, printed as JSON.

    hmxai train vbr configs/ab-vbr.json    --data DATA --out RUNS/ab-vbr    --threads 1
    hmxai train vbr configs/ab-single.json --data DATA --out RUNS/ab-single --threads 1
    python benchmarks/vbr_ab.py --vbr RUNS/ab-vbr --single RUNS/ab-single [--images 24] [--write-card]

The two arms are the same architecture, data, seed, crops, batch, schedule and step count from
scratch; the single-rate arm trains every batch at lambda(q) of its ``fixed_quality`` with gain 1,
the variable-rate arm draws q per batch over the whole range (stage 1: the highest lambda only).
Both are measured on Kodak (``$HMXAI_DATA/kodak``) with real bitstreams, their exponential moving
averages as they would ship: the single-rate model at its rate, the variable-rate model at
qualities around it. The difference is read off the variable-rate model's curve (linear in
log-bpp): its PSNR at the single-rate model's bpp, and the rate it needs for the single-rate
model's PSNR. ``--write-card`` stores the result in the training record of ``hmxai-vbr`` and its
card (``hmxai/zoo/hmxai-vbr-training.json``, ``-card.json``, ``docs/model-card-vbr.md``).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "benchmarks" / "results" / "vbr_ab.json"


def load_arm(run: Path, which: str = "ema"):
    """A run's config and its model (``ema``: the moving average export ships; ``model``: the raw
    weights), in float32 on the CPU."""
    from hmxai.train.checkpoint import load_state
    from hmxai.train.vbr import build_vbr_model
    from hmxai.train.vbr_config import VbrConfig

    config = VbrConfig.from_json(run / "config.json")
    state = load_state(run / "state.pt", "cpu")
    model = build_vbr_model(config)
    model.load_state_dict(state[which])
    summary = json.loads((run / "summary.json").read_text()) if (run / "summary.json").is_file() else {}
    return config, model.eval(), int(state["step"]), summary


def interpolate(xs, ys, x):
    """y at x on the piecewise-linear curve (xs increasing); None outside the measured range."""
    for (x0, y0), (x1, y1) in zip(zip(xs, ys), zip(xs[1:], ys[1:])):
        if x0 <= x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0) if x1 > x0 else y0
    return None


def compare(single_point, vbr_points):
    """The variable-rate curve against the single-rate point: dB at equal rate, % rate at equal PSNR."""
    pts = sorted(vbr_points, key=lambda p: p["measured_bpp"])
    log_r = [math.log(p["measured_bpp"]) for p in pts]
    psnr = [p["psnr"] for p in pts]
    at_rate = interpolate(log_r, psnr, math.log(single_point["measured_bpp"]))
    by_psnr = sorted(zip(psnr, log_r))
    log_at_psnr = interpolate([p for p, _ in by_psnr], [r for _, r in by_psnr], single_point["psnr"])
    return {
        "vbr_psnr_at_single_bpp": at_rate,
        "psnr_difference_db": None if at_rate is None else at_rate - single_point["psnr"],
        "vbr_bpp_at_single_psnr": None if log_at_psnr is None else math.exp(log_at_psnr),
        "rate_difference": None if log_at_psnr is None else math.exp(log_at_psnr) / single_point["measured_bpp"] - 1,
    }


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vbr", type=Path, required=True, help="run folder of the variable-rate arm")
    p.add_argument("--single", type=Path, required=True, help="run folder of the single-rate arm")
    p.add_argument("--images", type=int, default=24, help="first N Kodak images (default all 24)")
    p.add_argument("--around", default="-1,-0.5,0,0.5,1", help="variable-rate qualities, offsets from the single rate")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--weights", choices=("ema", "model"), default="ema",
                   help="each arm's moving average (what ships; default) or its raw weights")
    p.add_argument("--out", type=Path, default=RESULT, help=f"result JSON (default {RESULT.relative_to(ROOT)})")
    p.add_argument("--write-card", action="store_true")
    p.add_argument("--note", default="", help="a sentence for the card under the A/B table")
    a = p.parse_args(argv)

    import torch
    from tqdm.auto import tqdm

    from hmxai.datasets import kodak_paths
    from hmxai.images import load_image
    from hmxai.train.vbr import evaluate_bitstreams

    torch.set_num_threads(a.threads)
    images = [load_image(path) for path in kodak_paths()[: a.images]]
    s_cfg, s_model, s_steps, s_sum = load_arm(a.single, a.weights)
    v_cfg, v_model, v_steps, v_sum = load_arm(a.vbr, a.weights)
    if s_cfg.fixed_quality is None:
        raise SystemExit(f"{a.single} is not a single-rate run (its config has no fixed_quality)")
    if v_cfg.fixed_quality is not None:
        raise SystemExit(f"{a.vbr} is a single-rate run, not a variable-rate one")
    if (s_cfg.N, s_cfg.M, s_cfg.lambdas) != (v_cfg.N, v_cfg.M, v_cfg.lambdas):
        raise SystemExit("the arms differ in architecture or lambdas: not an A/B")
    q = float(s_cfg.fixed_quality)
    offsets = [float(o) for o in a.around.split(",")]
    qualities = [q + o for o in offsets if 1 <= q + o <= len(v_cfg.lambdas)]

    t0 = time.perf_counter()
    with torch.no_grad():
        single = evaluate_bitstreams(s_model, images, q, single=True)
        vbr = {}
        for vq in tqdm(qualities, desc="variable-rate arm"):
            vbr[str(vq)] = evaluate_bitstreams(v_model, images, vq)
    result = {
        "what": "A/B at equal steps from scratch: one model for every rate against one rate trained alone",
        "rate": {"quality": q, "lambda": float(s_model.scale.lmbda(q))},
        "steps": {"vbr": v_steps, "single": s_steps},
        "wall_seconds": {"vbr": v_sum.get("wall_seconds"), "single": s_sum.get("wall_seconds")},
        "recipe": {k: getattr(v_cfg, k) for k in ("N", "M", "batch", "crop", "lr", "stage_steps", "seed")},
        "kodak_images": len(images),
        "weights": a.weights,
        "single": single,
        "vbr": vbr,
        "comparison": compare(single, list(vbr.values())),
        "validation": {"vbr": v_sum.get("validation"), "single": s_sum.get("validation")},
        "runs": {"vbr": str(a.vbr), "single": str(a.single)},
        "hardware": f"{platform.machine()}, {a.threads} torch threads",
        "note": a.note,
        "seconds": time.perf_counter() - t0,
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=1))
    if a.write_card:
        write_card(result)
    print(json.dumps(result, indent=1))
    return result


def write_card(result: dict) -> None:
    """The A/B into hmxai-vbr's training record and card, and the card's Markdown re-rendered."""
    from hmxai.codecs.zoo import ZOO_DIR, zoo_card_path
    from hmxai.zoo_card import render_vbr_markdown

    ab = {k: result[k] for k in ("what", "rate", "steps", "wall_seconds", "recipe", "kodak_images", "weights",
                                 "single", "vbr", "comparison", "hardware", "note")}
    training_path = ZOO_DIR / "hmxai-vbr-training.json"
    training = json.loads(training_path.read_text())
    training["ab"] = ab
    training_path.write_text(json.dumps(training, indent=1))
    card_path = zoo_card_path("hmxai-vbr")
    card = json.loads(card_path.read_text())
    card["training"]["ab"] = ab
    card_path.write_text(json.dumps(card, indent=1))
    (ROOT / "docs" / "model-card-vbr.md").write_text(render_vbr_markdown(card))


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
