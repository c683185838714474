"""``hmxai channels``: per-channel bits, machine and human importance from the command line."""

from __future__ import annotations

import argparse

from hmxai.registry import quality_arg
from pathlib import Path
from typing import Any, Dict


def add_parser(sub) -> None:
    from hmxai.codecs import DEFAULT_LEARNED_CODEC
    from hmxai.explain.channels import CHANNEL_METHODS
    from hmxai.explain.objective import ABLATIONS

    p = sub.add_parser("channels", help="which latent channels serve the machine, which the human (learned codecs)")
    p.add_argument("images", nargs="*", help="image(s); default the embedded sample 'chelsea' (256x256 crop)")
    p.add_argument("--codec", default=DEFAULT_LEARNED_CODEC, help=f"learned codec (default {DEFAULT_LEARNED_CODEC})")
    p.add_argument("--quality", type=quality_arg, default=None)
    p.add_argument("--task", default=None, help="task model name (default efficientnet-lite0)")
    p.add_argument("--method", default="ablation", choices=CHANNEL_METHODS.names())
    p.add_argument("--ablation", default="not-transmitted", choices=ABLATIONS)
    p.add_argument("--target", type=int, default=None, help="class to explain (default: top-1 on the original)")
    p.add_argument("--steps", type=int, default=None, help="integrated-gradients: path steps")
    p.add_argument("--samples", type=int, default=None, help="shapley: permutations")
    p.add_argument("--machine-coverage", type=float, default=0.8, help="bit budget rule (see docs)")
    p.add_argument("--human-coverage", type=float, default=0.8)
    p.add_argument("--spatial", action="store_true", help="also: where the bits go vs machine attention")
    p.add_argument("--faithfulness", action="store_true", help="also: deletion/insertion AUCs")
    p.add_argument("--curves", action="store_true",
                   help="also: channel-budget curves over all the images (orderings from input-x-gradient scores, "
                        "'not transmitted', each image's own top-1)")
    p.add_argument("--labels", type=int, nargs="*", default=None, help="class labels of the images (curves)")
    p.add_argument("--figures", default=None, help="folder to write the figures (PDF and PNG)")
    p.add_argument("--json", action="store_true")


def _default_image():
    from hmxai.samples import sample_image

    return sample_image("chelsea")[..., :256, :256]


def run(args: argparse.Namespace) -> Dict[str, Any]:
    from hmxai.explain.budget import bit_budget, budget_curves, machine_human_split
    from hmxai.explain.channels import channel_scores
    from hmxai.explain.objective import require_latent
    from hmxai.images import load_image
    from hmxai.pipeline import decode, resolve_models

    codec, task = resolve_models(args.codec, args.quality, args.task)
    require_latent(codec)  # before any coding: a classical codec has no channels
    images = [load_image(p) for p in args.images] or [_default_image()]
    names = list(args.images) or ["chelsea (256x256 crop)"]
    params = {k: v for k, v in (("steps", args.steps), ("samples", args.samples)) if v is not None}
    out: Dict[str, Any] = {"images": [], "_items": []}
    figures = {}
    for index, (name, x) in enumerate(zip(names, images)):
        rung = decode(x, codec)  # the image's one rung: real bytes; every view below reads its latent
        scores = channel_scores(x, codec, task, method=args.method, ablation=args.ablation, target=args.target,
                                latent=rung, **params)
        budget = bit_budget(scores, args.machine_coverage, args.human_coverage)
        item: Dict[str, Any] = {"image": name, "scores": scores.to_dict(), "budget": budget.to_dict(),
                                "split": machine_human_split(scores).to_dict()}
        suffix = "" if len(images) == 1 else f"_{index}"
        figures[f"channels{suffix}"] = ("plot_channel_scores", (scores, budget))
        figures[f"bit_budget{suffix}"] = ("plot_bit_budget", (budget,))
        if args.spatial:
            from hmxai.explain.spatial import where_bits_go

            maps = where_bits_go(x, codec, task, target=scores.target, latent=rung)
            item["spatial"] = {k: v for k, v in maps.to_dict().items() if k not in ("bits_y", "bits_z")}
            figures[f"spatial{suffix}"] = ("plot_spatial", (maps,))
        if args.faithfulness:
            from hmxai.explain.faithfulness import deletion_insertion

            item["faithfulness"] = {}
            for objective in ("machine", "human"):
                d = deletion_insertion(x, scores, codec, task, objective=objective)
                item["faithfulness"][objective] = {k: v for k, v in d.to_dict().items() if k.endswith("auc")}
                figures[f"deletion_{objective}{suffix}"] = ("plot_deletion_insertion", (d,))
        out["images"].append(item)
        out["_items"].append((name, scores, budget, item))
    if args.curves:
        curves = budget_curves(images, codec, task, labels=args.labels, progress=not args.json)
        out["curves"] = curves.to_dict()
        figures["budget_curves"] = ("plot_budget_curves", (curves,))
    if args.figures:
        out["figures"] = _write_figures(Path(args.figures), figures)
    return out


def _write_figures(folder: Path, figures) -> list:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hmxai.plots import channels as plots
    from hmxai.plots import save_figure

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (fn, args) in figures.items():
        fig = getattr(plots, fn)(*args)
        written += save_figure(fig, folder / name, formats=("pdf", "png"))
        plt.close(fig)
    return written


def format_text(out: Dict[str, Any]) -> str:
    lines = []
    for name, s, b, item in out["_items"]:
        base = s.base.to_dict()
        order_m = s.machine.argsort(descending=True)[:5].tolist()
        order_h = s.human.argsort(descending=True)[:5].tolist()
        lines += [
            f"image          {name} ({s.image_size[1]}x{s.image_size[0]})",
            f"codec          {s.codec} q{s.quality}   bpp estimated {s.estimated_bpp:.4f}   MSE {base['mse']:.6f}",
            f"task           {s.task}   target {s.target} ({s.target_label}), probability {base['probability']:.3f}",
            f"method         {s.method} ({s.ablation})   {s.seconds:.2f} s, {s.evaluations} decoded images",
            f"channels       {s.num_channels}, live {int(s.live.sum())}",
            "top machine    " + ", ".join(f"{c} ({s.machine[c]:+.3f} logit, {s.bits[c]:.0f} b)" for c in order_m),
            "top human      " + ", ".join(f"{c} ({s.human_psnr[c]:+.3f} dB, {s.bits[c]:.0f} b)" for c in order_h),
            f"machine~human  Spearman {item['split']['spearman']:.3f}; top-20 % overlap {item['split']['top_overlap']:.2f}",
            "bit budget     " + ", ".join(f"{k} {100 * v:.1f} %" for k, v in b.fractions.items())
            + f"   (side bits {b.side_bits:.0f})",
        ]
        if "spatial" in item:
            sp = item["spatial"]
            lines.append(f"spatial        bits vs machine Spearman {sp['bits_vs_machine_spearman']:.3f}; "
                         f"bits vs error {sp['bits_vs_error_spearman']:.3f}")
        for objective, aucs in item.get("faithfulness", {}).items():
            lines.append(f"faithfulness   {objective}: deletion AUC {aucs['deletion_auc']:.4g} "
                         f"(random {aucs['random_deletion_auc']:.4g}), insertion AUC {aucs['insertion_auc']:.4g} "
                         f"(random {aucs['random_insertion_auc']:.4g})")
        lines.append("")
    if "curves" in out:
        for ordering, bd in out["curves"]["bd"].items():
            lines.append(f"curves         {ordering:<16} vs {out['curves']['anchor']}: "
                         + ", ".join(f"{k} {'n/a' if v is None else format(v, '.3f')}" for k, v in bd.items()))
    for path in out.get("figures", []):
        lines.append(f"figure         {path}")
    return "\n".join(lines).rstrip()
