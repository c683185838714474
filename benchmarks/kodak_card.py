"""Re-measure the hmxai zoo's model card on Kodak and print JSON.

    python benchmarks/kodak_card.py                 # all 24 images, zoo + anchors, BD-rates
    python benchmarks/kodak_card.py --images 2 --no-anchors
    python benchmarks/kodak_card.py --write-card    # store as hmxai/zoo/card.json + docs/model-card.md
    python benchmarks/kodak_card.py --write-card --anchors-from hmxai/zoo/card.json   # new zoo, same anchors

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


def curve(results):
    qs = sorted(results, key=lambda q: results[q]["summary"]["bpp_measured"])
    return ([results[q]["summary"]["bpp_measured"] for q in qs], [results[q]["summary"]["psnr"] for q in qs])


def bd_table(curves, reference):
    from hmxai.bd import bd_rate

    out = {}
    for name, (r, q) in curves.items():
        for method in ("cubic", "pchip"):
            try:
                out.setdefault(name, {})[f"vs_jpeg_{method}"] = bd_rate(*curves["jpeg"], r, q, method) if "jpeg" in curves else None
            except ValueError as exc:
                out.setdefault(name, {})[f"vs_jpeg_{method}"] = f"undefined: {exc}"
    if ZOO in curves:
        zr, zq = curves[ZOO]
        out[ZOO]["zoo_vs"] = {}
        for name, (r, q) in {**curves, "compressai-mbt2018-mean (published)": (reference["bpp"], reference["psnr"])}.items():
            if name == ZOO:
                continue
            try:
                out[ZOO]["zoo_vs"][name] = bd_rate(r, q, zr, zq, "cubic")
            except ValueError as exc:
                out[ZOO]["zoo_vs"][name] = f"undefined: {exc}"
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=24, help="first N Kodak images")
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
    codecs = {ZOO: range(1, 6)}
    results = {}
    reused = None
    if args.anchors_from:
        old = json.loads(Path(args.anchors_from).read_text())["kodak"]
        if old["images"] != [p.name for p in paths]:
            raise SystemExit(f"{args.anchors_from} was measured on other images")
        results.update({name: {int(q): v for q, v in old["results"][name].items()} for name in ANCHORS})
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
        "bd_rate_psnr": bd_table(curves, reference) if len(paths) >= 2 else None,
    }
    if reused:
        report["anchors_reused"] = reused
    if args.write_card:
        write_card(report, reference)
    print(json.dumps(report if not args.write_card else {"written": True, "bd_rate_psnr": report["bd_rate_psnr"]}, indent=1))


def write_card(report, reference):
    from hmxai.codecs.zoo import ZOO_DIR

    from hmxai.codecs import create_codec

    training = json.loads((ZOO_DIR / "training.json").read_text())
    parameters = create_codec(ZOO, quality=1).describe()["parameters"]
    card = {"name": ZOO, "parameters": parameters, "training": training, "kodak": report, "reference": reference}
    (ZOO_DIR / "card.json").write_text(json.dumps(card, indent=1))
    from hmxai.zoo_card import render_markdown

    (ROOT / "docs" / "model-card.md").write_text(render_markdown(card))


if __name__ == "__main__":
    main()
