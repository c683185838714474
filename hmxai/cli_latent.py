"""``hmxai latent-task``: machines that read the bits against decode-then-classify on a ladder, and
``hmxai train latent``: train (resumable), export and calibrate the latent classifiers."""

from __future__ import annotations

import argparse
from typing import Any, Dict

from hmxai.registry import positive_int, quality_arg


def add_parser(sub) -> None:
    p = sub.add_parser("latent-task", help="classify from the codec's latent (no decoder) vs decode-then-classify, per rung")
    p.add_argument("image", nargs="?", default=None, help="image file; default the embedded sample 'chelsea'")
    p.add_argument("--codec", default="hmxai-vbr", help="the codec whose latent the machines read (default hmxai-vbr)")
    p.add_argument("--qualities", type=quality_arg, nargs="+", default=None, help="rungs (default the codec's ladder)")
    p.add_argument("--tasks", nargs="+", default=None,
                   help="latent tasks (default efficientnet-lite0-latent efficientnet-lite0-latent-snn)")
    p.add_argument("--weights-dir", default=None,
                   help="folder with the latent tasks' files (what hmxai train latent --export-to wrote); "
                        "default the package's hmxai/zoo")
    p.add_argument("--steps", type=positive_int, default=16, help="the latent SNN's time steps T")
    p.add_argument("--json", action="store_true")


def add_train_parser(tsub) -> None:
    t = tsub.add_parser("latent", help="distill the latent classifier from EfficientNet-Lite0 (resumable)")
    t.add_argument("config", help="JSON config (keys of hmxai.train.latent_config.LatentConfig)")
    t.add_argument("--data", default=None, help="root of the training folders (default $HMXAI_DATA)")
    t.add_argument("--out", required=True, help="run folder (resumes from its state.pt)")
    t.add_argument("--threads", type=positive_int, default=1)
    t.add_argument("--export-to", default=None, help="when done, write the weights and the SNN's thresholds here "
                                                     "(the package's: hmxai/zoo)")
    t.add_argument("--json", action="store_true")


def run_train(args: argparse.Namespace) -> Dict[str, Any]:
    from pathlib import Path

    from hmxai.datasets import data_root
    from hmxai.train.latent import CACHE, calibrate_latent_snn, export_latent, train_latent
    from hmxai.train.latent_config import LatentConfig

    config = LatentConfig.from_json(args.config)
    state = train_latent(config, data_root(args.data), args.out, progress=not args.json, threads=args.threads)
    out: Dict[str, Any] = {"state": str(state), "out": args.out}
    if args.export_to:
        dest = Path(args.export_to)
        weights = export_latent(args.out, dest / f"{config.name}.safetensors")
        snn = dest / f"{config.name}-snn.safetensors"
        info = calibrate_latent_snn(weights, Path(args.out) / CACHE, snn, progress=not args.json)
        out.update(weights=str(weights), calibration=str(snn), calibration_seconds=info["seconds"])
    return out


def run_latent(args: argparse.Namespace) -> Dict[str, Any]:
    from hmxai.images import load_image
    from hmxai.latent.ladder import machines_ladder
    from hmxai.samples import sample_image

    from pathlib import Path

    from hmxai.latent import create_latent_task
    from hmxai.latent.zoo import LATENT_SNN_TASK, LATENT_TASK

    x = sample_image("chelsea") if args.image is None else load_image(args.image)
    names = args.tasks or [LATENT_TASK, LATENT_SNN_TASK]
    tasks = []
    for name in names:
        kwargs = {"steps": args.steps} if name == LATENT_SNN_TASK else {}
        if args.weights_dir:
            folder = Path(args.weights_dir)
            kwargs["weights"] = folder / f"{LATENT_TASK}.safetensors"
            if name == LATENT_SNN_TASK:
                kwargs["calibration"] = folder / f"{LATENT_SNN_TASK}.safetensors"
        tasks.append(create_latent_task(name, **kwargs))
    out = machines_ladder(x, args.codec, args.qualities, tasks, progress=not args.json).to_dict()
    out["image"] = "chelsea (embedded sample)" if args.image is None else args.image
    return out


def format_text(out: Dict[str, Any]) -> str:
    lines = [f"reference (EfficientNet-Lite0 on the original {out['image']}): {out['reference_label']}",
             f"{'rung':<16} {'bpp':>6} {'machine':<30} {'top-1':<22} {'agrees':>6} {'GMACs':>7} {'energy mJ':>9}"]
    for r in out["rungs"]:
        for m in r["machines"]:
            energy = "" if m["energy_mj"] is None else f"{m['energy_mj']:.2f}"
            lines.append(f"{r['codec'] + ' q' + format(r['quality'], 'g'):<16} {r['measured_bpp']:>6.3f} "
                         f"{m['machine']:<30} {m['top1_label'][:22]:<22} {str(m['agreement']):>6} "
                         f"{m['macs'] / 1e9:>7.3f} {energy:>9}")
    return "\n".join(lines)
