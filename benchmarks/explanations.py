"""How explanations drift with the rate, over held-out ImageNet samples: Grad-CAM/HiRes-CAM (and LIME).

    python benchmarks/explanations.py                       # 30 images, CAMs, faithfulness on 10
    python benchmarks/explanations.py --images 150 --lime 10 --out benchmarks/results/explanations-drift.json

Prints one JSON object: per rung (codec, quality) the median measured bpp and PSNR, the share of
images whose top-1 changed, and per method the median rank correlation and top-10 % IoU of the
rung's map with the original's (quartiles too); faithfulness (deletion/insertion AUC against a
random pixel order) on the first images. Setup: 224x224 center crops of the held-out ImageNet
samples ($HMXAI_DATA), EfficientNet-Lite0, the explained class = the original's top-1.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lime_ladder import crop224  # noqa: E402

LADDER = {"hmxai-msh": [1, 2, 3, 4, 5], "jpeg": [5, 10, 20, 40, 80]}


def quartiles(values):
    v = sorted(x for x in values if x == x)
    if not v:
        return None
    q = statistics.quantiles(v, n=4) if len(v) > 1 else [v[0]] * 3
    return {"median": q[1], "q1": q[0], "q3": q[2], "n": len(v)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--images", type=int, default=30)
    parser.add_argument("--faithfulness", type=int, default=10, help="deletion/insertion on the first N images")
    parser.add_argument("--lime", type=int, default=0, help="LIME drift on the first N images")
    parser.add_argument("--lime-samples", type=int, default=500)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)

    import torch
    from tqdm.auto import tqdm

    torch.set_num_threads(args.threads)
    from hmxai.datasets import data_root
    from hmxai.explain.ladder import rate_ladder
    from hmxai.explain.pixels import drift, explain_pixels, pixel_faithfulness
    from hmxai.tasks import create_task
    from hmxai.train.data import imagenet_split

    task = create_task("efficientnet-lite0")
    _, held = imagenet_split(data_root(args.data) / "imagenet-samples")
    step = max(1, len(held) // max(args.images, 1))
    chosen = held[::step][: args.images]
    methods = ["grad-cam", "hires-cam"] + (["lime"] if args.lime else [])
    per_rung, faith = {}, {m: [] for m in methods}
    for i, path in enumerate(tqdm(chosen, desc="images")):
        ladder = rate_ladder(crop224(path), LADDER, task=task)
        for m in methods:
            if m == "lime" and i >= args.lime:
                continue
            params = {"num_samples": args.lime_samples, "progress": False} if m == "lime" else {}
            e = explain_pixels(ladder, m, task, **params)
            for d in drift(ladder, e):
                rung = per_rung.setdefault(f"{d.codec} q{d.quality}", {"bpp": [], "psnr": [], "changed": [],
                                                                     "methods": {}})
                if m == "grad-cam":
                    rung["bpp"].append(d.measured_bpp)
                    rung["psnr"].append(d.psnr)
                    rung["changed"].append(d.class_changed)
                rung["methods"].setdefault(m, {"spearman": [], "top10_iou": []})
                rung["methods"][m]["spearman"].append(d.spearman)
                rung["methods"][m]["top10_iou"].append(d.top_iou)
            if i < args.faithfulness:
                faith[m].extend(pixel_faithfulness(ladder, e, task, points=11).aucs())
    out = {"setup": {"ladder": LADDER, "task": "efficientnet-lite0", "crop": 224, "images": len(chosen),
                     "lime_images": min(args.lime, len(chosen)), "lime_samples": args.lime_samples,
                     "faithfulness_images": min(args.faithfulness, len(chosen)), "baseline": "blur",
                     "torch": torch.__version__, "machine": platform.processor() or platform.machine()},
           "rungs": {}, "faithfulness": {}}
    for name, r in per_rung.items():
        out["rungs"][name] = {"bpp": statistics.median(r["bpp"]), "psnr": statistics.median(r["psnr"]),
                              "class_changed": sum(r["changed"]) / len(r["changed"]),
                              **{m: {k: quartiles(v) for k, v in s.items()} for m, s in r["methods"].items()}}
    for m, rows in faith.items():
        if rows:
            out["faithfulness"][m] = {k: quartiles([row[k] for row in rows]) for k in rows[0] if k != "row"}
            out["faithfulness"][m]["better_than_random_deletion"] = statistics.mean(
                row["deletion_auc"] < row["random_deletion_auc"] for row in rows)
            out["faithfulness"][m]["better_than_random_insertion"] = statistics.mean(
                row["insertion_auc"] > row["random_insertion_auc"] for row in rows)
    text = json.dumps(out, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
