"""``hmxai train joint``: train a codec for humans and machines (resumable), and export it;
``hmxai compare-codecs``: two codecs on one image at one rate, which bits moved."""

from __future__ import annotations

import argparse
from typing import Any, Dict

from hmxai.registry import positive_int, quality_arg


def add_parser(sub) -> None:
    p = sub.add_parser("compare-codecs", help="two learned codecs on one image at one rate: bits, importance, "
                                              "Grad-CAM and the bit budget side by side (which bits moved)")
    p.add_argument("image", nargs="?", default=None, help="image file; default the embedded sample 'chelsea'")
    p.add_argument("--codecs", nargs=2, default=None, metavar=("FIRST", "SECOND"),
                   help="the two codecs (default hmxai-vbr hmxai-hm: the human codec and the machine-aware one)")
    p.add_argument("--quality", type=quality_arg, default=3, help="the rate of both (default 3)")
    p.add_argument("--method", default="input-x-gradient", help="channel attribution (default input-x-gradient)")
    p.add_argument("--figure", default=None, help="write the figure here (.png, .pdf or .svg)")
    p.add_argument("--json", action="store_true")


def run_compare(args: argparse.Namespace) -> Dict[str, Any]:
    from hmxai.codecs import DEFAULT_LEARNED_CODEC
    from hmxai.explain.compare import MACHINE_AWARE_CODEC, compare_codecs
    from hmxai.images import load_image
    from hmxai.samples import sample_image

    x = sample_image("chelsea") if args.image is None else load_image(args.image)
    codecs = args.codecs or (DEFAULT_LEARNED_CODEC, MACHINE_AWARE_CODEC)
    cmp = compare_codecs(x, codecs, quality=args.quality, method=args.method)
    out = cmp.to_dict()
    out["image"] = "chelsea (embedded sample)" if args.image is None else args.image
    if args.figure:
        from hmxai.plots import save_as
        from hmxai.plots.compare import plot_codec_comparison

        out["figure"] = save_as(plot_codec_comparison(cmp), args.figure, dpi=200, close=True)
    return out


def format_text(out: Dict[str, Any]) -> str:
    lines = [f"{out['image']}: explained for '{out['target_label']}' ({out['method']})",
             f"{'codec':<12} {'q':>4} {'bpp':>7} {'PSNR':>6} {'agrees':>6} {'machine':>8} {'human':>6} {'both':>6}"]
    for s in out["sides"]:
        f = s["budget"]["fractions"]
        lines.append(f"{s['codec']:<12} {s['quality']:>4g} {s['measured_bpp']:>7.4f} {s['psnr']:>6.2f} "
                     f"{str(s['agrees']):>6} {f['machine']:>8.2f} {f['human']:>6.2f} {f['both']:>6.2f}")
    lines.append(f"rate change {100 * out['rate_change']:+.1f} %; budget shift "
                 + ", ".join(f"{k} {v:+.3f}" for k, v in out["budget_shift"].items()))
    if out.get("figure"):
        lines.append(f"figure {out['figure']}")
    return "\n".join(lines)


def add_train_parser(tsub) -> None:
    t = tsub.add_parser("joint", help="train a machine-aware codec from hmxai-vbr: L = R + λh·D_h + λm·D_m (resumable)")
    t.add_argument("config", help="JSON config (keys of hmxai.train.joint_config.JointConfig)")
    t.add_argument("--data", default=None, help="root of the training folders (default $HMXAI_DATA)")
    t.add_argument("--out", required=True, help="run folder (resumes from its state.pt)")
    t.add_argument("--threads", type=positive_int, default=1)
    t.add_argument("--device", default=None, help="cpu or cuda (default the config's)")
    t.add_argument("--lambda-m", type=float, default=None, help="weight of the machine term (default the config's)")
    t.add_argument("--lambda-h", type=float, default=None, help="weight of the human term (default the config's)")
    t.add_argument("--stop-after", type=positive_int, default=None, help="stop after this many steps (resume later)")
    t.add_argument("--export-to", default=None, help="when done, write the weights here as <name>.safetensors "
                                                     "(the package's: hmxai/zoo)")
    t.add_argument("--json", action="store_true")


def run_train(args: argparse.Namespace) -> Dict[str, Any]:
    from pathlib import Path

    from hmxai.datasets import data_root
    from hmxai.errors import InvalidArgumentError
    from hmxai.train.joint import export_joint, train_joint
    from hmxai.train.joint_config import JointConfig

    overrides = {k: v for k, v in (("device", args.device), ("lambda_m", args.lambda_m),
                                   ("lambda_h", args.lambda_h)) if v is not None}
    config = JointConfig.from_json(args.config, **overrides)
    state = train_joint(config, data_root(args.data), args.out, progress=not args.json, threads=args.threads,
                        stop_after=args.stop_after)
    out: Dict[str, Any] = {"state": str(state), "out": args.out, "variant": config.variant,
                           "lambda_h": config.lambda_h, "lambda_m": config.lambda_m}
    if args.export_to:
        import json

        done = json.loads((Path(args.out) / "summary.json").read_text())["steps"]
        if done < config.total:
            raise InvalidArgumentError(f"{args.out} has trained {done} of {config.total} steps: "
                                       "run it to the end before --export-to")
        out["weights"] = str(export_joint(args.out, Path(args.export_to) / f"{config.name}.safetensors"))
    return out
