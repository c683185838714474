"""``hmxai sweep CONFIG``: run (or resume) a sweep; ``hmxai figures CONFIG_OR_RESULTS``: every figure
and table from stored results, without recomputing."""

from __future__ import annotations

import argparse
from typing import Any, Dict

from hmxai.registry import positive_int


def add_parser(sub) -> None:
    p = sub.add_parser("sweep", help="codecs x qualities x tasks x datasets from a TOML/YAML config; "
                                     "resumable, Parquet results, local processes or a Dask cluster")
    p.add_argument("config", help="sweep config (.toml, .yaml): see docs/sweeps.md")
    p.add_argument("--workers", type=positive_int, default=None, help="local worker processes (default the config's)")
    p.add_argument("--scheduler", default=None, help="a Dask scheduler address, e.g. tcp://host:8786")
    p.add_argument("--threads", type=positive_int, default=None, help="torch threads per worker")
    p.add_argument("--out", default=None, help="results folder (default the config's 'out')")
    p.add_argument("--data", default=None, help="root of relative dataset paths (default $HMXAI_DATA)")
    p.add_argument("--retry-errors", action="store_true", help="compute again the units that failed")
    p.add_argument("--recompute", action="append", default=[], metavar="CODEC",
                   help="drop this codec's stored rows and compute them again (a retrained codec); repeatable")
    p.add_argument("--consolidate", action="store_true", help="then merge the store into one Parquet segment")
    p.add_argument("--figures", action="store_true", help="then draw every figure and table (hmxai figures)")
    p.add_argument("--export", default=None, help="then write all rows to this .parquet file")
    p.add_argument("--print-config", action="store_true", help="print the parsed config as TOML and stop")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("figures", help="every figure and table of a sweep from its stored rows (no recomputing); "
                                       "also redraws a demo results.json")
    p.add_argument("results", help="sweep config, results folder, exported .parquet, or a demo results.json")
    p.add_argument("--out", default=None, help="folder for the figures (default: the results folder's figures/)")
    p.add_argument("--width", default="one-column", choices=("one-column", "two-column"))
    p.add_argument("--json", action="store_true")


def _config(args: argparse.Namespace):
    from hmxai.sweep.config import SweepConfig

    overrides = {"out": args.out, "data_root": args.data, "threads": args.threads}
    return SweepConfig.from_file(args.config, **overrides)


def run(args: argparse.Namespace) -> Dict[str, Any]:
    from hmxai.sweep.config import dump_toml
    from hmxai.sweep.run import run_sweep

    config = _config(args)
    if args.print_config:
        return {"config": dump_toml(config), "digest": config.digest()}
    summary = run_sweep(config, progress=not args.json, workers=args.workers, scheduler=args.scheduler,
                        retry_errors=args.retry_errors, recompute=args.recompute)
    out = summary.to_dict()
    if args.consolidate:
        from hmxai.sweep.store import Store

        out["segment"] = str(Store(config.out_dir).consolidate())
    if args.export:
        from hmxai.sweep.store import Store

        out["export"] = str(Store(config.out_dir).export(args.export))
    if args.figures:
        from hmxai.sweep.figures import figures_from

        out["figures"] = figures_from(config.out_dir)["figures"]
    return out


def figures(args: argparse.Namespace) -> Dict[str, Any]:
    from hmxai.sweep.figures import figures_from

    return figures_from(args.results, args.out, width=args.width)


def format_text(command: str, out: Dict[str, Any]) -> str:
    if "config" in out:
        return out["config"]
    if command == "figures":
        lines = [f"figures in {out.get('out', '')}"]
        for name, paths in out["figures"].items() if isinstance(out["figures"], dict) else ():
            lines.append(f"  {name}: {', '.join(p.rsplit('.', 1)[-1] for p in paths)}")
        if not isinstance(out["figures"], dict):
            lines += [f"  {p}" for p in out["figures"]]
        return "\n".join(lines)
    return (f"sweep {out['out']}: {out['computed']} units computed ({out['failed']} failed), {out['skipped']} already "
            f"stored, {out['units']} in all; {out['seconds']:.1f} s, {out['units_per_second']:.2f} units/s "
            f"({out['engine']}, {out['workers']} workers)")
