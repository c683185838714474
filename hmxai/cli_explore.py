"""``hmxai explore`` (one explorer state: numbers as JSON, figure) and ``hmxai app`` (the explorer
as a standalone Voila page for teaching)."""

from __future__ import annotations

import argparse

from hmxai.registry import positive_int, quality_arg
from typing import Any, Dict



def add_parser(sub) -> None:
    from hmxai.explain.budget import ORDERINGS
    from hmxai.explain.pixels import ALIASES
    from hmxai.explore.engine import methods

    choices = list(methods()) + sorted(ALIASES)  # command-line spellings too (gradcam, hirescam)

    p = sub.add_parser("explore", help="one explorer view: bits, decoded, top-5, explanation at a rate and channel budget")
    p.add_argument("image", nargs="?", default=None, help="image file; default the embedded sample 'chelsea'")
    p.add_argument("--codec", default=None, help="codec (default hmxai-vbr, the offline zoo)")
    p.add_argument("--quality", type=quality_arg, default=None, help="quality on the codec's ladder (default its middle)")
    p.add_argument("--budget", type=int, default=None, help="send only the first K latent channels (default all)")
    p.add_argument("--ordering", default="bits", choices=ORDERINGS,
                   help="channel order of --budget (default bits: costliest first, as in the explorer)")
    p.add_argument("--toggle", type=int, action="append", default=[], help="flip one channel (repeatable)")
    p.add_argument("--method", default="grad-cam", choices=choices, help="explanation map")
    p.add_argument("--task", default=None, help="task model name (default efficientnet-lite0)")
    p.add_argument("--max-side", type=positive_int, default=None, help="resize the image so its longer side fits")
    p.add_argument("--export", default=None, help="folder: write the view as PNG + PDF figure and JSON numbers")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("app", help="the rate explorer as a standalone web page (Voila), for teaching")
    p.add_argument("image", nargs="?", default=None, help="image file or sample name (default 'chelsea')")
    p.add_argument("--codec", default=None, help="codec shown first (default hmxai-vbr)")
    p.add_argument("--quality", type=quality_arg, default=None)
    p.add_argument("--method", default=None, choices=choices)
    p.add_argument("--max-side", type=positive_int, default=384, help="longer image side in the app (default 384)")
    p.add_argument("--port", type=int, default=8866)
    p.add_argument("--ip", default="127.0.0.1", help="address to serve on (default: this machine only)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser window")
    p.add_argument("--json", action="store_true")


def run_explore(args: argparse.Namespace) -> Dict[str, Any]:
    from hmxai.explore.engine import ExplorerEngine, describe_state
    from hmxai.images import load_image
    from hmxai.samples import sample_image
    from hmxai.images import fit_within

    x = sample_image("chelsea") if args.image is None else load_image(args.image)
    x = fit_within(x, args.max_side)
    codecs = None if args.codec is None else (args.codec,)
    engine = ExplorerEngine(x, args.task, codecs=codecs)
    codec = args.codec or engine.codecs[0]
    ladder = engine.qualities(codec)
    quality = ladder[len(ladder) // 2] if args.quality is None else args.quality
    kept = None
    if args.budget is not None or args.toggle:
        kept = engine.kept(codec, quality, args.budget, args.ordering, args.toggle)
    view = engine.view(codec, quality, kept, args.method)
    out = describe_state(view)
    out["image"] = "chelsea (embedded sample)" if args.image is None else args.image
    out["ladder"] = list(ladder)
    out["seconds"] = round(view.seconds, 4)
    if args.export:
        import matplotlib

        matplotlib.use("Agg")
        from hmxai.explore.export import export_view

        out["exported"] = export_view(view, engine.x, args.export)
    return out


def run_app(args: argparse.Namespace) -> Dict[str, Any]:
    from hmxai.ui.app import run_app as serve

    settings = {"image": args.image, "codec": args.codec, "quality": args.quality, "method": args.method,
                "max_side": args.max_side}
    url = f"http://{args.ip}:{args.port}/"
    if not args.json:
        print(f"hmxai app: serving the rate explorer at {url} (Ctrl-C stops it)", flush=True)
    code = serve(settings, port=args.port, ip=args.ip, open_browser=not args.no_browser)
    return {"url": url, "exit_code": code}


def format_text(out: Dict[str, Any]) -> str:
    est = "n/a (classical codec)" if out["estimated_bpp"] is None else f"{out['estimated_bpp']:.4f}"
    channels = "" if out["num_channels"] is None else f"   channels sent {out['channels_kept']}/{out['num_channels']}"
    lines = [f"image        {out['image']} ({out['image_size'][1]}x{out['image_size'][0]})",
             f"codec        {out['codec']} q{out['quality']} (ladder {out['ladder']}){channels}",
             f"bpp measured {out['measured_bpp']:.4f}   estimated {est}",
             f"PSNR         {out['psnr']:.2f} dB   MS-SSIM {out['ms_ssim']:.4f}",
             f"top-1 agrees {'yes' if out['agreement'] else 'NO'}   p({out['target_label']}) "
             f"{out['target_probability']:.3f}",
             f"{'rank':<5}{'original':<34}{'decoded':<34}"]
    for i, (a, b) in enumerate(zip(out["top5_original"], out["top5_decoded"])):
        lines.append(f"{i + 1:<5}{a['label'][:24] + ' ' + format(a['probability'], '.3f'):<34}"
                     f"{b['label'][:24] + ' ' + format(b['probability'], '.3f'):<34}")
    for path in out.get("exported", []):
        lines.append(f"exported     {path}")
    return "\n".join(lines)
