"""``hmxai train joint``: train a codec for humans and machines (resumable), and export it."""

from __future__ import annotations

import argparse
from typing import Any, Dict

from hmxai.registry import positive_int


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
        out["weights"] = str(export_joint(args.out, Path(args.export_to) / f"{config.name}.safetensors"))
    return out
