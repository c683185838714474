"""``hmxai explain``: Grad-CAM and LIME on an image and its decoded rate ladder, from the command line."""

from __future__ import annotations

import argparse
from typing import Any, Dict


def _samples(text: str) -> int:
    n = int(text)
    if n < 2:
        raise argparse.ArgumentTypeError("LIME needs at least 2 samples")
    return n


def _fraction(text: str) -> float:
    v = float(text)
    if not 0 < v <= 1:
        raise argparse.ArgumentTypeError("a fraction in (0, 1]")
    return v


def _width(text: str):
    if text in ("one-column", "two-column"):
        return text
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("one-column, two-column or a width in inches") from None
    if not 1 <= v <= 20:
        raise argparse.ArgumentTypeError("a width between 1 and 20 inches")
    return v


def _codec(text: str):
    """``jpeg`` or ``jpeg:10,40`` (``hmxai-vbr:1,3.5,6``): a codec and, optionally, its own qualities
    (integers, or fractions for a variable-rate codec; the codec checks its range)."""
    from hmxai.registry import quality_arg

    name, _, qs = text.partition(":")
    try:
        return name, [quality_arg(q) for q in qs.split(",")] if qs else None
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"qualities must be numbers: {text!r}") from None


def add_parser(sub) -> None:
    from hmxai.codecs import DEFAULT_LEARNED_CODEC
    from hmxai.registry import quality_arg
    from hmxai.explain.lime import SEGMENTATIONS
    from hmxai.explain.pixels import ALIASES, BASELINES, PIXEL_METHODS

    p = sub.add_parser("explain", help="how Grad-CAM / LIME explanations move as the rate drops (rate ladder)")
    p.add_argument("image", nargs="?", default=None,
                   help="image file; default the embedded sample 'chelsea' (224x224 crop)")
    p.add_argument("--method", action="append", default=None, choices=PIXEL_METHODS.names() + sorted(ALIASES),
                   help="explanation method, repeatable (default: grad-cam and lime)")
    p.add_argument("--codec", action="append", default=None, type=_codec,
                   help=f"codec, repeatable: codecs side by side; NAME:Q1,Q2 gives it its own qualities "
                        f"(default {DEFAULT_LEARNED_CODEC})")
    p.add_argument("--qualities", type=quality_arg, nargs="+", default=None,
                   help="qualities of every --codec given without its own (default: each codec's ladder)")
    p.add_argument("--task", default=None, help="task model name (default efficientnet-lite0)")
    p.add_argument("--target", type=int, default=None, help="class to explain (default: top-1 on the original)")
    p.add_argument("--seed", type=int, default=0, help="LIME: seed of the perturbation masks")
    p.add_argument("--samples", type=_samples, default=1000, help="LIME: perturbations per row")
    p.add_argument("--segmentation", default="quickshift", choices=SEGMENTATIONS.names(), help="LIME superpixels")
    p.add_argument("--precision", default="float32", choices=("float32", "bfloat16"), help="LIME classifier calls")
    p.add_argument("--top", type=_fraction, default=0.1, help="drift: fraction for the top-k IoU")
    p.add_argument("--faithfulness", action="store_true", help="also: pixel deletion/insertion AUCs")
    p.add_argument("--baseline", default="blur", choices=BASELINES, help="faithfulness: what removed pixels become")
    p.add_argument("--figure", default=None, help="write the grid figure to FIGURE.pdf/.svg/.png")
    p.add_argument("--width", type=_width, default="two-column", help="figure width: one-column, two-column or inches")
    p.add_argument("--json", action="store_true")


def _default_image():
    from hmxai.samples import sample_image

    return sample_image("chelsea")[..., :224, :224]


def run(args: argparse.Namespace) -> Dict[str, Any]:
    from hmxai.codecs import DEFAULT_LEARNED_CODEC
    from hmxai.explain.ladder import rate_ladder
    from hmxai.explain.pixels import drift, explain_ladder, pixel_faithfulness
    from hmxai.pipeline import resolve_task

    task = resolve_task(args.task)
    image = _default_image() if args.image is None else args.image
    codecs = {name: qs if qs is not None else args.qualities
              for name, qs in (args.codec or [(DEFAULT_LEARNED_CODEC, None)])}
    ladder = rate_ladder(image, codecs, task=task, progress=not args.json)
    methods = args.method or ["grad-cam", "lime"]
    explanations = explain_ladder(ladder, methods, task, strict=False, target=args.target, seed=args.seed,
                                  num_samples=args.samples, segmentation=args.segmentation,
                                  precision=args.precision, progress=not args.json)
    out: Dict[str, Any] = {
        "image": "chelsea (224x224 crop)" if args.image is None else args.image,
        "task": task.name, "target": explanations[0].target, "target_label": explanations[0].target_label,
        "ladder": ladder.to_dict()["rows"], "methods": {}, "_ladder": ladder, "_explanations": explanations,
    }
    for e in explanations:
        item: Dict[str, Any] = {"seconds": e.seconds, "params": dict(e.params),
                                "target_probability": list(e.probabilities),
                                "drift": [d.to_dict() for d in drift(ladder, e, top=args.top)]}
        if e.weights is not None:
            item["superpixel_weights"] = e.weights.tolist()
            item["fit_r2"] = list(e.fit_scores)
            item["top_superpixels"] = [list(e.top_superpixels(r)) for r in range(len(ladder))]
        if args.faithfulness:
            item["faithfulness"] = pixel_faithfulness(ladder, e, task, baseline=args.baseline).aucs()
        out["methods"][e.method] = item
    if args.figure:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from hmxai.plots import save_figure
        from hmxai.plots.explanations import plot_explanation_grid

        fig = plot_explanation_grid(ladder, explanations, width=args.width)
        out["figures"] = save_figure(fig, args.figure)
        plt.close(fig)
    return out


def format_text(out: Dict[str, Any]) -> str:
    ladder = out["_ladder"]
    lines = [f"image     {out['image']}", f"task      {out['task']}   explaining class {out['target']} "
             f"({out['target_label']}) on every row", ""]
    head = f"{'row':<22}{'bpp':>7}{'PSNR':>8}  {'top-1':<24}"
    for name in out["methods"]:
        head += f"{name + ' rho':>16}{'IoU':>6}"
    lines.append(head)
    for r, row in enumerate(ladder.to_dict()["rows"]):
        bpp = "" if row["measured_bpp"] is None else f"{row['measured_bpp']:.3f}"
        psnr = "" if row["psnr"] is None else f"{row['psnr']:.2f}"
        text = f"{ladder.row_label(r):<22}{bpp:>7}{psnr:>8}  {row['top1_label'][:17]:<17} {row['top1_probability']:.2f}  "
        for item in out["methods"].values():
            if r == 0:
                text += f"{'(reference)':>16}{'':>6}"
            else:
                d = item["drift"][r - 1]
                text += f"{d['spearman']:>16.3f}{d['top_iou']:>6.2f}"
        lines.append(text + ("  class changed" if r and ladder.predictions[r].indices[0] != ladder.predictions[0].indices[0] else ""))
    lines.append("")
    for name, item in out["methods"].items():
        lines.append(f"{name:<10}{item['seconds']:.1f} s   " + ", ".join(f"{k} {v}" for k, v in item["params"].items()))
        for row in item.get("faithfulness", []):
            lines.append(f"          row {row['row']}: deletion AUC {row['deletion_auc']:.3f} (random "
                         f"{row['random_deletion_auc']:.3f}), insertion AUC {row['insertion_auc']:.3f} "
                         f"(random {row['random_insertion_auc']:.3f})")
    for path in out.get("figures", []):
        lines.append(f"figure    {path}")
    return "\n".join(lines)
