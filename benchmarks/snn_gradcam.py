"""Grad-CAM through surrogate gradients: the spiking task's maps against the ANN's.

    python benchmarks/snn_gradcam.py --images 12 --steps 16

On held-out ImageNet samples (the original image and one JPEG rung, q80): Grad-CAM of
efficientnet-lite0 and of efficientnet-lite0-snn (signed-burst IF neurons, backward through the
arctan surrogate), both for the ANN's top-1 class; per image the Spearman correlation of the two
maps (pixels), and each map's deletion and insertion AUC (target probability, blur baseline,
6 points) under its own model. Prints JSON; writes benchmarks/results/snn_gradcam.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    import torch

    from hmxai.datasets import data_root
    from hmxai.explain.common import spearman
    from hmxai.explain.ladder import rate_ladder
    from hmxai.explain.pixels import explain_pixels, pixel_faithfulness
    from hmxai.images import load_image
    from hmxai.tasks import create_task
    from hmxai.train.data import imagenet_split

    p = argparse.ArgumentParser()
    p.add_argument("--images", type=int, default=12)
    p.add_argument("--steps", type=int, default=16)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    _, held = imagenet_split(data_root(os.environ.get("HMXAI_DATA")) / "imagenet-samples")
    ann = create_task("efficientnet-lite0")
    snn = create_task("efficientnet-lite0-snn", steps=args.steps)
    rows = []
    for path in held[: args.images]:
        x = load_image(path)
        target = ann.predict(x)[0].indices[0]
        out = {"image": path.name}
        maps = {}
        for name, task in (("ann", ann), ("snn", snn)):
            ladder = rate_ladder(x, "jpeg", [80], task)
            cam = explain_pixels(ladder, "grad-cam", task, target=target)
            faith = pixel_faithfulness(ladder, cam, task, points=6)
            maps[name] = cam.maps
            out[f"{name}_deletion_auc"] = round(float(faith.auc(faith.deletion)[0]), 4)
            out[f"{name}_insertion_auc"] = round(float(faith.auc(faith.insertion)[0]), 4)
        out["spearman_original"] = round(float(spearman(maps["ann"][0].flatten(), maps["snn"][0].flatten())), 4)
        out["spearman_jpeg80"] = round(float(spearman(maps["ann"][1].flatten(), maps["snn"][1].flatten())), 4)
        rows.append(out)
        print(json.dumps(out), flush=True)
    summary = {k: round(statistics.median(r[k] for r in rows), 4) for k in rows[0] if k != "image"}
    result = {"steps": args.steps, "images": len(rows), "median": summary, "rows": rows}
    (ROOT / "benchmarks" / "results" / "snn_gradcam.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result["median"], indent=1))


if __name__ == "__main__":
    main()
