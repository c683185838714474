"""Re-measure the hmxai zoo's model card on Kodak and print JSON.

    python benchmarks/kodak_card.py                 # all 24 images, zoo + anchors, BD-rates
    python benchmarks/kodak_card.py --images 2 --no-anchors
    python benchmarks/kodak_card.py --write-card    # store as hmxai/zoo/card.json + docs/model-card.md
    python benchmarks/kodak_card.py --write-card --anchors-from hmxai/zoo/card.json   # new zoo, same anchors
    python benchmarks/kodak_card.py --codec hmxai-vbr --anchors-from hmxai/zoo/card.json --write-card
        # the variable-rate codec: its named qualities 1..6 and the continuous curve (steps of 0.5),
        # the anchors and the five-model zoo (as a row) reused from hmxai-msh's card

Kodak comes from $HMXAI_DATA/kodak. Anchors: JPEG, WebP, AVIF, HEIF at the
qualities below; BD-rate (PSNR, cubic and pchip) of every codec against
JPEG and of the zoo against each anchor and against CompressAI's published
mbt2018-mean numbers (benchmarks/reference/).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ANCHORS = {
    "jpeg": (5, 10, 20, 30, 40, 50, 60, 70, 80, 90),
    "webp": (5, 10, 20, 30, 40, 50, 60, 70, 80, 90),
    "avif": (10, 20, 30, 40, 50, 60, 70, 80, 90),
    "heif": (10, 20, 30, 40, 50, 60, 70, 80, 90),
}
ZOO = "hmxai-msh"
#: per codec: the qualities measured (a variable-rate codec: its continuous curve, named points included)
CODEC_QUALITIES = {"hmxai-msh": tuple(range(1, 6)),
                   "hmxai-vbr": tuple(int(q) if q.is_integer() else q for q in (1 + 0.5 * i for i in range(11)))}


def curve(results):
    qs = sorted(results, key=lambda q: results[q]["summary"]["measured_bpp"])
    return ([results[q]["summary"]["measured_bpp"] for q in qs], [results[q]["summary"]["psnr"] for q in qs])


def bd_table(curves, reference, zoo=ZOO):
    from hmxai.bd import bd_rate

    out = {}
    for name, (r, q) in curves.items():
        for method in ("cubic", "pchip"):
            try:
                out.setdefault(name, {})[f"vs_jpeg_{method}"] = bd_rate(*curves["jpeg"], r, q, method) if "jpeg" in curves else None
            except ValueError as exc:
                out.setdefault(name, {})[f"vs_jpeg_{method}"] = f"undefined: {exc}"
    if zoo in curves:
        zr, zq = curves[zoo]
        out[zoo]["zoo_vs"] = {}
        for name, (r, q) in {**curves, "compressai-mbt2018-mean (published)": (reference["bpp"], reference["psnr"])}.items():
            if name == zoo:
                continue
            try:
                out[zoo]["zoo_vs"][name] = bd_rate(r, q, zr, zq, "cubic")
            except ValueError as exc:
                out[zoo]["zoo_vs"][name] = f"undefined: {exc}"
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=24, help="first N Kodak images")
    parser.add_argument("--codec", default=ZOO, choices=sorted(CODEC_QUALITIES), help="the zoo codec measured")
    parser.add_argument("--no-anchors", action="store_true")
    parser.add_argument("--write-card", action="store_true")
    parser.add_argument("--anchors-from", default=None,
                        help="reuse the anchors' results from this card.json (same images) instead of re-encoding")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    import torch

    from hmxai.codecs import create_codec
    from hmxai.datasets import kodak_paths
    from hmxai.evaluate import evaluate_codec, summarize

    paths = kodak_paths()[: args.images]
    zoo = args.codec
    codecs = {zoo: CODEC_QUALITIES[zoo]}
    results = {}
    reused = None
    if args.anchors_from:
        old = json.loads(Path(args.anchors_from).read_text())["kodak"]
        names = [p.name for p in paths]
        if not set(names) <= set(old["images"]):
            raise SystemExit(f"{args.anchors_from} was measured on other images")
        reuse = list(ANCHORS) + [n for n in old["results"] if n not in ANCHORS and n != zoo]  # the old zoo: a row
        for name in reuse:  # the same images' rows, summarized again (a subset of the stored images works too)
            results[name] = {}
            for q, v in old["results"][name].items():
                rows = [r for r in v["per_image"] if r["image"] in names]
                results[name][_q(q)] = {"summary": summarize(rows), "per_image": rows}
        reused = {"from": Path(args.anchors_from).name, "hardware": old.get("hardware")}
    elif not args.no_anchors:
        codecs.update(ANCHORS)
    for name, qualities in codecs.items():
        results[name] = {}
        for q in qualities:
            rows = evaluate_codec(create_codec(name, quality=q), paths, progress=True)
            results[name][q] = {"summary": summarize(rows), "per_image": rows}
    reference = json.loads((ROOT / "benchmarks/reference/compressai-mbt2018-mean_mse_kodak.json").read_text())
    curves = {name: curve(res) for name, res in results.items()}
    report = {
        "images": [p.name for p in paths],
        "hardware": f"{platform.machine()}, {torch.get_num_threads()} torch threads",
        "results": {n: {str(q): v for q, v in r.items()} for n, r in results.items()},
        "bd_rate_psnr": bd_table(curves, reference, zoo) if len(paths) >= 2 else None,
    }
    if reused:
        report["anchors_reused"] = reused
    if args.write_card:
        write_card(report, reference, zoo)
    print(json.dumps(report if not args.write_card else {"written": True, "bd_rate_psnr": report["bd_rate_psnr"]}, indent=1))


def _q(text):
    v = float(text)
    return int(v) if v.is_integer() else v


def write_card(report, reference, zoo=ZOO):
    from hmxai.codecs import create_codec
    from hmxai.codecs.zoo import ZOO_DIR, zoo_card_path
    from hmxai.zoo_card import render_markdown, render_vbr_markdown

    training = json.loads((ZOO_DIR / ("training.json" if zoo == ZOO else f"{zoo}-training.json")).read_text())
    parameters = create_codec(zoo, quality=1).describe()["parameters"]
    card = {"name": zoo, "parameters": parameters, "training": training, "kodak": report, "reference": reference}
    zoo_card_path(zoo).write_text(json.dumps(card, indent=1))
    if zoo == ZOO:
        (ROOT / "docs" / "model-card.md").write_text(render_markdown(card))
    else:
        (ROOT / "docs" / f"model-card-{zoo.split('-')[-1]}.md").write_text(render_vbr_markdown(card))


if __name__ == "__main__":
    main()
