"""``hmxai snn``: a spiking task on a codec ladder (bits versus spikes, energy), and
``hmxai train snn``: calibrate the spiking classifier's thresholds."""

from __future__ import annotations

import argparse
from typing import Any, Dict

from hmxai.registry import positive_int, quality_arg



def add_parser(sub) -> None:
    from hmxai.spiking.energy import ENERGY_PJ
    from hmxai.spiking.network import ENCODINGS
    from hmxai.spiking.neurons import NEURONS

    p = sub.add_parser("snn", help="a spiking classifier on a codec ladder: bpp, agreement, spikes, energy per rung")
    p.add_argument("image", nargs="?", default=None, help="image file; default the embedded sample 'chelsea'")
    p.add_argument("--codec", default=None, help="codec (default hmxai-vbr, the offline zoo)")
    p.add_argument("--qualities", type=quality_arg, nargs="+", default=None, help="rungs (default the codec's ladder)")
    p.add_argument("--steps", type=positive_int, default=None, help="time steps T (default the task's, 16)")
    p.add_argument("--encoding", default=None, choices=ENCODINGS, help="input encoding (default direct)")
    p.add_argument("--neuron", default=None, choices=NEURONS, help="neuron model (default signed-burst)")
    p.add_argument("--precision", default="fp32", choices=sorted(ENERGY_PJ), help="energy table row (Horowitz 2014)")
    p.add_argument("--figure", default=None, help="write the bits-versus-spikes figure here (.png or .pdf)")
    p.add_argument("--json", action="store_true")


def add_train_parser(tsub) -> None:
    t = tsub.add_parser("snn", help="calibrate efficientnet-lite0-snn's thresholds on the training split")
    t.add_argument("--data", default=None, help="the shared data folder (default $HMXAI_DATA)")
    t.add_argument("--out", required=True, help="calibration file to write (the package's: "
                                                "hmxai/zoo/efficientnet-lite0-snn.safetensors)")
    t.add_argument("--images", type=positive_int, default=128)
    t.add_argument("--percentile", type=float, default=1.0)
    t.add_argument("--json", action="store_true")


def run_train(args: argparse.Namespace) -> Dict[str, Any]:
    from pathlib import Path

    from hmxai.spiking.calibrate import calibrate

    meta = calibrate(args.data, args.images, args.percentile, Path(args.out), progress=not args.json)
    return {"written": args.out, **{k: v for k, v in meta.items() if k != "images"}, "images": len(meta["images"])}


def run_snn(args: argparse.Namespace) -> Dict[str, Any]:
    from hmxai.images import load_image
    from hmxai.samples import sample_image
    from hmxai.spiking.bits import bits_vs_spikes
    from hmxai.tasks import create_task

    x = sample_image("chelsea") if args.image is None else load_image(args.image)
    options = {k: v for k, v in (("steps", args.steps), ("encoding", args.encoding), ("neuron", args.neuron))
               if v is not None}
    task = create_task("efficientnet-lite0-snn", **options)
    result = bits_vs_spikes(x, args.codec, args.qualities, task, precision=args.precision, progress=not args.json)
    out = result.to_dict()
    out["image"] = "chelsea (embedded sample)" if args.image is None else args.image
    out["steps"], out["encoding"], out["neuron"] = task.net.steps, task.net.encoding, task.net.neuron
    if args.figure:
        import matplotlib

        matplotlib.use("Agg")
        from hmxai.plots import save_as
        from hmxai.plots.spiking import plot_bits_vs_spikes

        save_as(plot_bits_vs_spikes(result, row=1), args.figure, dpi=200, close=True)
        out["figure"] = args.figure
    return out


def format_text(out: Dict[str, Any]) -> str:
    lines = [f"{out['task']}  T={out['steps']}  {out['encoding']} encoding  {out['neuron']} neurons  ({out['image']})",
             f"{'row':<18} {'bpp':>7} {'top-1':<22} {'kept':>5} {'spikes':>11} {'SNN/ANN energy':>15}"]
    for r in out["rows"]:
        bpp = "" if r["measured_bpp"] is None else f"{r['measured_bpp']:.3f}"
        lines.append(f"{r['row']:<18} {bpp:>7} {r['top1_label'][:22]:<22} {str(r['agreement']):>5} "
                     f"{r['spikes']:>11.0f} {r['energy_ratio']:>15.2f}")
    if out.get("figure"):
        lines.append(f"figure: {out['figure']}")
    return "\n".join(lines)
