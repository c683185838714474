"""The ``hmxai`` command: info, compress, decompress, run, demo, channels, explain, train, figures.

Every command takes ``--json``. Errors the user can fix (a bad image, a
corrupted file, missing weights) print one clear line and exit with 2;
with ``--json`` they print ``{"error": ..., "type": ...}`` on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from hmxai.errors import InvalidArgumentError
from hmxai.registry import quality_arg

EXIT_USER_ERROR = 2


def _add_codec_args(p: argparse.ArgumentParser) -> None:
    from hmxai.codecs import DEFAULT_LEARNED_CODEC

    p.add_argument("--codec", default=DEFAULT_LEARNED_CODEC,
                   help=f"codec name (hmxai info lists them; default {DEFAULT_LEARNED_CODEC}, hmxai's offline zoo)")
    p.add_argument("--quality", type=quality_arg, default=None,
                   help="quality index (default: the codec's; fractions for variable-rate codecs, e.g. 2.5)")
    _add_weights_args(p)


def _add_weights_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--metric", default=None, choices=("mse", "ms-ssim"), help="learned codecs: trained metric")
    p.add_argument("--pretrained", action="store_true", help="learned codecs: CompressAI's published weights")
    p.add_argument("--checkpoint", default=None, help="learned codecs: a local weights file")


def _codec_kwargs(args) -> Dict[str, Any]:
    kw: Dict[str, Any] = {}
    if args.metric is not None:
        kw["metric"] = args.metric
    if args.pretrained:
        kw["pretrained"] = True
    if args.checkpoint is not None:
        kw["checkpoint"] = args.checkpoint
    return kw


def _weights_kwargs(args, codec: str) -> Dict[str, Any]:
    """--metric/--pretrained/--checkpoint, refused for codecs they do not apply to."""
    from hmxai.codecs import CODECS

    kw = _codec_kwargs(args)
    facts = CODECS.entry(codec).facts
    if kw and (not facts["learned"] or facts.get("zoo")):
        raise InvalidArgumentError(f"--metric/--pretrained/--checkpoint apply to CompressAI architectures, not {codec}")
    return kw


def _make_codec(args):
    from hmxai.codecs import create_codec

    return create_codec(args.codec, quality=args.quality, **_weights_kwargs(args, args.codec))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hmxai", description="Which bits of a compressed image serve humans, which serve machines."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("info", help="versions, registered models, where weights come from")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("compress", help="compress an image to an .hmx file (real bytes)")
    p.add_argument("input")
    p.add_argument("output")
    _add_codec_args(p)
    p.add_argument("--max-pixels", type=int, default=None)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("decompress", help="decode an .hmx file to a PNG")
    p.add_argument("input")
    p.add_argument("output")
    _add_weights_args(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("run", help="codec + task on an image (default: the embedded samples)")
    p.add_argument("image", nargs="?", default=None)
    _add_codec_args(p)
    p.add_argument("--task", default=None, help="task model name (default efficientnet-lite0)")
    p.add_argument("--label", type=int, default=None, help="ground-truth class index")
    p.add_argument("--max-pixels", type=int, default=None)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("demo", help="the main job: pipeline over the samples, report with figures")
    p.add_argument("--out", default="report", help="output folder (default ./report)")
    p.add_argument("--quick", action="store_true", help="one image, two qualities (for tests)")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("train", help="train hmxai's own codecs (see hmxai/train)")
    tsub = p.add_subparsers(dest="what", required=True)
    t = tsub.add_parser("codec", help="rate-distortion training from a JSON config, resumable")
    t.add_argument("config", help="JSON config (keys of hmxai.train.config.TrainConfig)")
    t.add_argument("--data", default=None, help="root of the training folders (default $HMXAI_DATA)")
    t.add_argument("--out", required=True, help="run folder: checkpoints and summaries per quality")
    t.add_argument("--quality", type=int, action="append", default=None, help="train only these qualities")
    t.add_argument("--device", default=None, choices=("cpu", "cuda"))
    t.add_argument("--steps", type=int, default=None, help="override steps (from-scratch qualities)")
    t.add_argument("--warm-steps", type=int, default=None, help="override steps (warm-started qualities)")
    t.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    t.add_argument("--json", action="store_true")
    t = tsub.add_parser("vbr", help="train the variable-rate codec (one model, every rate), resumable")
    t.add_argument("config", help="JSON config (keys of hmxai.train.vbr_config.VbrConfig)")
    t.add_argument("--data", default=None, help="root of the training folders (default $HMXAI_DATA)")
    t.add_argument("--out", required=True, help="run folder: state.pt, config.json, summary.json")
    t.add_argument("--device", default=None, choices=("cpu", "cuda"))
    t.add_argument("--time-budget", type=float, default=None, help="fit a fresh run's steps to this many seconds")
    t.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    t.add_argument("--json", action="store_true")
    t = tsub.add_parser("pack", help="write the training split as compact JPEGs (to carry it to a GPU machine)")
    t.add_argument("config", help="JSON config of the run the pack is for")
    t.add_argument("--data", default=None, help="root of the training folders (default $HMXAI_DATA)")
    t.add_argument("--out", required=True)
    t.add_argument("--parts", type=int, default=2)
    t.add_argument("--json", action="store_true")
    t = tsub.add_parser("export", help="write a finished run as compact zoo weights (fp16 safetensors)")
    t.add_argument("run", help="run folder written by hmxai train codec")
    t.add_argument("--out", required=True, help="folder for the weights (the package's hmxai/zoo)")
    t.add_argument("--name", default="hmxai-msh")
    t.add_argument("--json", action="store_true")

    from hmxai import cli_channels, cli_explain, cli_explore, cli_joint, cli_latent, cli_snn, cli_sweep

    cli_snn.add_train_parser(tsub)
    cli_joint.add_train_parser(tsub)
    cli_latent.add_train_parser(tsub)
    cli_latent.add_parser(sub)
    cli_joint.add_parser(sub)
    cli_channels.add_parser(sub)
    cli_explain.add_parser(sub)
    cli_explore.add_parser(sub)
    cli_snn.add_parser(sub)

    cli_sweep.add_parser(sub)  # sweep, figures
    return parser


# ---------------------------------------------------------------------- commands
def cmd_info(args) -> Dict[str, Any]:
    from hmxai.info import collect_info

    return collect_info()


def cmd_compress(args) -> Dict[str, Any]:
    from hmxai.images import load_image

    codec = _make_codec(args)
    x = load_image(args.input, max_pixels=args.max_pixels)
    encoded = codec.compress(x)
    data = encoded.to_bytes()
    Path(args.output).write_bytes(data)
    return {
        "input": args.input,
        "output": args.output,
        "codec": codec.name,
        "quality": codec.quality,
        "width": encoded.image_size[1],
        "height": encoded.image_size[0],
        "payload_bytes": len(encoded.payload),
        "file_bytes": len(data),
        "measured_bpp": encoded.measured_bpp,
        "bpp_file": 8 * len(data) / encoded.num_pixels,
    }


def cmd_decompress(args) -> Dict[str, Any]:
    from hmxai.codecs import codec_for, read_compressed
    from hmxai.images import to_pil

    encoded = read_compressed(args.input)
    codec = codec_for(encoded, **_weights_kwargs(args, encoded.codec))
    x_hat = codec.decompress(encoded)
    to_pil(x_hat).save(args.output, format="PNG")
    return {
        "input": args.input,
        "output": args.output,
        "codec": encoded.codec,
        "quality": encoded.quality,
        "width": encoded.image_size[1],
        "height": encoded.image_size[0],
        "measured_bpp": encoded.measured_bpp,
    }


def cmd_run(args) -> Dict[str, Any]:
    from hmxai.pipeline import run_pipeline
    from hmxai.samples import sample_image, sample_names
    from hmxai.tasks import DEFAULT_TASK, create_task

    codec = _make_codec(args)
    task = create_task(args.task or DEFAULT_TASK)
    if args.image is None:
        images = [(name, sample_image(name)) for name in sample_names()]
    else:
        images = [(args.image, args.image)]
    results = [
        run_pipeline(img, codec, task, label=args.label, image_name=name, max_pixels=args.max_pixels)
        for name, img in images
    ]
    return {"results": [r.to_dict() for r in results], "_objects": results}


def cmd_demo(args) -> Dict[str, Any]:
    from hmxai.report import write_demo_report

    return write_demo_report(args.out, quick=args.quick)


def cmd_train(args) -> Dict[str, Any]:
    if args.what == "snn":
        from hmxai import cli_snn

        return cli_snn.run_train(args)
    if args.what == "latent":
        from hmxai import cli_latent

        return cli_latent.run_train(args)
    if args.what == "joint":
        from hmxai import cli_joint

        return cli_joint.run_train(args)
    if args.what == "export":
        from pathlib import Path

        if (Path(args.run) / "state.pt").is_file() or args.run.endswith(".safetensors"):  # a variable-rate run
            from hmxai.train.vbr_run import export_vbr, stage_chain, training_record

            name = "hmxai-vbr" if args.name == "hmxai-msh" else args.name
            weights = export_vbr(args.run, Path(args.out) / f"{name}.safetensors")
            record = Path(args.out) / f"{name}-training.json"
            record.write_text(json.dumps(training_record(stage_chain(Path(args.run))), indent=1))
            return {"written": [str(weights), str(record)]}
        from hmxai.train.export import export_zoo

        return {"written": [str(p) for p in export_zoo(args.run, args.out, args.name)]}
    if args.what in ("vbr", "pack"):
        return _train_vbr(args)
    from hmxai.datasets import data_root
    from hmxai.train.codec import train_zoo
    from hmxai.train.config import TrainConfig

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    config = TrainConfig.from_json(args.config, device=args.device, steps=args.steps, warm_steps=args.warm_steps)
    done = train_zoo(config, data_root(args.data), args.out, qualities=args.quality, progress=not args.json)
    return {"trained": {f"q{q}": str(p) for q, p in done.items()}, "out": args.out}


def _train_vbr(args) -> Dict[str, Any]:
    from hmxai.datasets import data_root
    from hmxai.train.vbr_config import VbrConfig

    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)
    config = VbrConfig.from_json(args.config, device=getattr(args, "device", None))
    if args.what == "pack":
        from hmxai.train.vbr_run import pack_training_set

        manifest = pack_training_set(data_root(args.data), config, args.out, parts=args.parts)
        return {"out": args.out, "images": len(manifest["images"]), "part_bytes": manifest["parts"]}
    from hmxai.train.vbr_run import train_vbr

    state = train_vbr(config, data_root(args.data), args.out, progress=not args.json, time_budget=args.time_budget)
    return {"state": str(state), "summary": str(state.parent / "summary.json")}


def cmd_channels(args) -> Dict[str, Any]:
    from hmxai import cli_channels

    return cli_channels.run(args)


def cmd_explain(args) -> Dict[str, Any]:
    from hmxai import cli_explain

    return cli_explain.run(args)


def cmd_explore(args) -> Dict[str, Any]:
    from hmxai import cli_explore

    return cli_explore.run_explore(args)


def cmd_latent_task(args) -> Dict[str, Any]:
    from hmxai import cli_latent

    return cli_latent.run_latent(args)


def cmd_compare_codecs(args) -> Dict[str, Any]:
    from hmxai import cli_joint

    return cli_joint.run_compare(args)


def cmd_snn(args) -> Dict[str, Any]:
    from hmxai import cli_snn

    return cli_snn.run_snn(args)


def cmd_app(args) -> Dict[str, Any]:
    from hmxai import cli_explore

    return cli_explore.run_app(args)


def cmd_figures(args) -> Dict[str, Any]:
    from hmxai import cli_sweep

    return cli_sweep.figures(args)


def cmd_sweep(args) -> Dict[str, Any]:
    from hmxai import cli_sweep

    return cli_sweep.run(args)


# ---------------------------------------------------------------------- output
def format_result(r) -> str:
    """The human-readable table of one pipeline result (:meth:`PipelineResult.table`)."""
    return r.table()


def _print_human(command: str, out: Dict[str, Any]) -> None:
    if command == "run":
        print("\n\n".join(format_result(r) for r in out["_objects"]))
    elif command == "channels":
        from hmxai import cli_channels

        print(cli_channels.format_text(out))
    elif command == "explain":
        from hmxai import cli_explain

        print(cli_explain.format_text(out))
    elif command == "explore":
        from hmxai import cli_explore

        print(cli_explore.format_text(out))
    elif command == "snn":
        from hmxai import cli_snn

        print(cli_snn.format_text(out))
    elif command == "compare-codecs":
        from hmxai import cli_joint

        print(cli_joint.format_text(out))
    elif command == "latent-task":
        from hmxai import cli_latent

        print(cli_latent.format_text(out))
    elif command == "demo":
        n = sum(len(v) for v in out["figures"].values())
        print(f"report         {out['report']}\nrows           {out['results']} ({out['runs']} units, "
              f"{out['computed']} computed now)\nfigures        {n} files in {Path(out['report']).parent / 'figures'}")
    elif command in ("sweep", "figures"):
        from hmxai import cli_sweep

        print(cli_sweep.format_text(command, out))
    elif command == "app":
        print(f"hmxai app: stopped (exit {out['exit_code']})")
    elif command == "info":
        from hmxai.info import format_info

        print(format_info(out))
    else:
        for key, value in out.items():
            if not key.startswith("_"):
                print(f"{key:<14} {value}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    from hmxai.errors import HmxaiError

    args = build_parser().parse_args(argv)
    commands = {
        "info": cmd_info,
        "compress": cmd_compress,
        "decompress": cmd_decompress,
        "run": cmd_run,
        "demo": cmd_demo,
        "figures": cmd_figures,
        "sweep": cmd_sweep,
        "train": cmd_train,
        "channels": cmd_channels,
        "explain": cmd_explain,
        "explore": cmd_explore,
        "app": cmd_app,
        "snn": cmd_snn,
        "latent-task": cmd_latent_task,
        "compare-codecs": cmd_compare_codecs,
    }
    try:
        out = commands[args.command](args)
    except (HmxaiError, OSError) as exc:
        if not isinstance(exc, HmxaiError) and getattr(exc, "filename", None) is None:
            raise  # an OSError about no file the caller named is a bug: show its traceback
        # errors the caller can fix: hmxai's own, and a path the caller named that cannot be read or written
        message = str(exc) or type(exc).__name__
        if getattr(args, "json", False):
            print(json.dumps({"error": message, "type": type(exc).__name__}))
        else:
            print(f"hmxai {args.command}: error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR
    if args.json:
        print(json.dumps(_finite({k: v for k, v in out.items() if not k.startswith("_")}), indent=2,
                         default=_json_default, allow_nan=False))
    else:
        _print_human(args.command, out)
    return 0


def _finite(value: Any) -> Any:
    """NaN and infinities become None (JSON has neither), recursively."""
    import math

    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, (set, tuple)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    return str(value)


def entry() -> None:  # console-script entry point
    sys.exit(main())


if __name__ == "__main__":
    entry()

__all__: List[str] = ["main", "build_parser", "format_result"]
