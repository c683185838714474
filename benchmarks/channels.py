"""Channel-explanation benchmark: speed against stock captum, agreement of fast methods, the split.

    python benchmarks/channels.py                      # speed (3 crops) + agreement on 40 held-out images
    python benchmarks/channels.py --images 150         # all held-out ImageNet samples
    python benchmarks/channels.py --speed-only
    python benchmarks/channels.py --speed-images 0 --images 150 --curves 20   # agreement and curves only

Prints one JSON object. Every time is a median over repeats measured in this run; every
speed target is reported as a ratio against stock captum measured in the same run:

* stock: captum ``FeatureAblation`` over all M channels, one ablation per pass, the
  machine's target logit only (``perturbations_per_eval=1``); ``IntegratedGradients``
  (50 steps) and ``InputXGradient`` on the latent, machine only;
* ours: ``channel_scores(method="ablation")`` giving machine *and* human scores
  (batched passes, dead channels skipped, and with ``skip_dead=False``), and the fast
  ``input-x-gradient`` (machine and human).

Images: 256x256 center crops of the held-out ImageNet samples ($HMXAI_DATA, the
``imagenet_split`` of the zoo's training), codec hmxai-msh, task EfficientNet-Lite0.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def crop256(path):
    from hmxai.images import load_image

    x = load_image(path)
    h, w = x.shape[-2:]
    if min(h, w) < 256:
        import torch.nn.functional as F

        s = 256 / min(h, w)
        x = F.interpolate(x, size=(max(256, round(h * s)), max(256, round(w * s))), mode="bilinear",
                          antialias=True, align_corners=False).clamp(0, 1)
        h, w = x.shape[-2:]
    top, left = (h - 256) // 2, (w - 256) // 2
    return x[..., top : top + 256, left : left + 256].contiguous()


def timed(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def stock(codec, task, x, target):
    """Stock captum on the latent, machine score only (the baseline a user would write)."""
    import torch
    from captum.attr import FeatureAblation, InputXGradient, IntegratedGradients

    from hmxai.explain.objective import ablation_values
    from hmxai.images import crop_to

    latent = codec.analyze(x)
    base = ablation_values(codec, latent)
    f = lambda y: task(crop_to(codec.model.g_s(y).clamp(0, 1), latent.image_size))  # noqa: E731
    mask = torch.arange(latent.y_hat.shape[1]).view(1, -1, 1, 1).expand_as(latent.y_hat)

    def ablation():
        with torch.no_grad():
            return FeatureAblation(f).attribute(latent.y_hat, baselines=base, target=target, feature_mask=mask)

    def ig():
        return IntegratedGradients(f).attribute(latent.y_hat, baselines=base, target=target, n_steps=50,
                                                internal_batch_size=10)

    def ixg():
        return InputXGradient(f).attribute(latent.y_hat.clone().requires_grad_(True), target=target)

    return ablation, ig, ixg


def speed(codec, task, images, repeats):
    from hmxai.explain.channels import channel_scores
    from hmxai.explain.common import spearman

    rows = []
    for x in images:
        ours_abl = lambda: channel_scores(x, codec, task, method="ablation")  # noqa: E731
        t_ours, s = timed(ours_abl, repeats)
        t_noskip, _ = timed(lambda: channel_scores(x, codec, task, method="ablation", skip_dead=False), repeats)
        t_fast, fast = timed(lambda: channel_scores(x, codec, task, method="input-x-gradient"), max(repeats, 3))
        st_abl, st_ig, st_ixg = stock(codec, task, x, s.target)
        t_stock, st = timed(st_abl, repeats)
        t_stock_ig, _ = timed(st_ig, 1)
        t_stock_ixg, _ = timed(st_ixg, max(repeats, 3))
        rows.append({
            "live_channels": int(s.live.sum()), "channels": s.num_channels,
            "stock_ablation_machine_s": t_stock, "stock_ig50_machine_s": t_stock_ig,
            "stock_input_x_gradient_machine_s": t_stock_ixg,
            "ours_ablation_both_s": t_ours, "ours_ablation_both_no_skip_s": t_noskip,
            "ours_fast_both_s": t_fast,
            "ratio_ablation_vs_stock_once": t_stock / t_ours,
            "ratio_ablation_vs_stock_twice": 2 * t_stock / t_ours,
            "ratio_ablation_no_skip_vs_stock_twice": 2 * t_stock / t_noskip,
            "ours_equals_stock_max_abs": float((s.machine_logit - st[0, :, 0, 0].double()).abs().max()),
            "fast_vs_ablation_spearman_machine": spearman(s.machine[s.live], fast.machine[s.live]),
        })
    keys = [k for k in rows[0] if k not in ("channels",)]
    return {"per_image": rows, "median": {k: statistics.median(r[k] for r in rows) for k in keys}}


def agreement(codec, task, images, ig_images):
    from tqdm.auto import tqdm

    from hmxai.explain.budget import bit_budget, machine_human_split
    from hmxai.explain.channels import channel_scores
    from hmxai.explain.common import spearman

    methods = {"input-x-gradient": {}, "integrated-gradients": {"steps": 16}}
    rho = {m: {"machine": [], "human": [], "seconds": []} for m in methods}
    split, overlap, budget = [], [], {k: [] for k in ("both", "machine", "human", "neither")}
    for i, x in enumerate(tqdm(images, desc="agreement")):
        ref = channel_scores(x, codec, task, method="ablation")
        sp = machine_human_split(ref)
        split.append(sp.spearman)
        overlap.append(sp.top_overlap)
        for k, v in bit_budget(ref).fractions.items():
            budget[k].append(v)
        for m, p in methods.items():
            if m == "integrated-gradients" and i >= ig_images:
                continue
            s = channel_scores(x, codec, task, method=m, **p)
            live = ref.live  # dead channels are exactly 0 under every method: ties that would inflate rho
            rho[m]["machine"].append(spearman(ref.machine[live], s.machine[live]))
            rho[m]["human"].append(spearman(ref.human[live], s.human[live]))
            rho[m]["seconds"].append(s.seconds)

    def stats(v):
        v = [a for a in v if a == a]
        if not v:
            return None
        return {"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v)}

    return {
        "methods_vs_ablation": {m: {k: stats(v) for k, v in d.items()} for m, d in rho.items() if d["seconds"]},
        "machine_vs_human_spearman": stats(split),
        "top20_overlap": stats(overlap),
        "bit_budget_fractions": {k: stats(v) for k, v in budget.items()},
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--quality", type=int, default=3)
    parser.add_argument("--images", type=int, default=40, help="held-out images for the agreement part")
    parser.add_argument("--speed-images", type=int, default=3, help="0: skip the speed part")
    parser.add_argument("--ig-images", type=int, default=20, help="integrated gradients on the first N only")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--speed-only", action="store_true")
    parser.add_argument("--curves", type=int, default=0, help="also budget curves over this many images")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from hmxai.codecs import create_codec
    from hmxai.datasets import data_root
    from hmxai.tasks import create_task
    from hmxai.train.data import imagenet_split

    codec = create_codec("hmxai-msh", quality=args.quality)
    task = create_task("efficientnet-lite0")
    _, held = imagenet_split(data_root(args.data) / "imagenet-samples")
    step = max(1, len(held) // max(args.images, 1))
    chosen = held[::step][: args.images]
    out = {"setup": {"codec": f"hmxai-msh q{args.quality}", "task": "efficientnet-lite0", "crop": 256,
                     "threads": args.threads, "machine": platform.processor() or platform.machine(),
                     "torch": torch.__version__}}
    if args.speed_images:
        out["speed"] = speed(codec, task, [crop256(p) for p in held[: args.speed_images]], args.repeats)
    if not args.speed_only:
        out["agreement"] = agreement(codec, task, [crop256(p) for p in chosen], args.ig_images)
        out["agreement"]["images"] = [p.name for p in chosen]
    if args.curves:
        from hmxai.datasets import imagenet_samples
        from hmxai.explain.budget import budget_curves

        labels = dict((p.name, c) for p, c in imagenet_samples(data_root(args.data)))
        pick = held[:: max(1, len(held) // args.curves)][: args.curves]
        curves = budget_curves([crop256(p) for p in pick], codec, task, labels=[labels[p.name] for p in pick])
        out["curves"] = curves.to_dict()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
