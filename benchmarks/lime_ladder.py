"""LIME over a rate ladder against stock ``lime_image``: speed ratio and the same top superpixels.

    python benchmarks/lime_ladder.py                         # 1 image, 6 rungs, 1000 samples (about 10 min on 2 cores)
    python benchmarks/lime_ladder.py --images 3 --samples 500 --out benchmarks/results/lime-speed.json

Prints one JSON object. Setup: 224x224 center crops of held-out ImageNet samples ($HMXAI_DATA),
a 6-rung ladder (hmxai-msh q1..q5 and JPEG q20), EfficientNet-Lite0, quickshift superpixels of
the original (LIME's defaults), seed 0.

* stock: for each of the 6 decoded images, ``LimeImageExplainer(random_state=seed).explain_instance``
  with its defaults (batch 10, top 5 labels, classifier = the task on float32 tensors), given our
  shared segmentation as ``segmentation_fn`` (so its superpixels are comparable to ours; this
  spares stock its own quickshift, about 0.5 s per image, and makes the ratio conservative);
* ours: ``explain_lime`` on the whole ladder (batches of 4, one per core in parallel): the
  original's row too (7 rows against stock's 6).

Reported: both times, ``ratio_6_vs_7`` = stock time over ours, ``ratio_per_row`` (the same per
explained row), whether the top-5 superpixels (and their order) equal stock's on every rung,
the largest weight difference, and the same for the ``bfloat16`` classifier option.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LADDER = {"hmxai-msh": [1, 2, 3, 4, 5], "jpeg": [20]}


def crop224(path):
    import torch.nn.functional as F

    from hmxai.images import load_image

    x = load_image(path)
    h, w = x.shape[-2:]
    s = 224 / min(h, w)
    x = F.interpolate(x, size=(max(224, round(h * s)), max(224, round(w * s))), mode="bilinear", antialias=True,
                      align_corners=False).clamp(0, 1)
    h, w = x.shape[-2:]
    top, left = (h - 224) // 2, (w - 224) // 2
    return x[..., top : top + 224, left : left + 224].contiguous()


def stock_run(ladder, task, segments, samples, seed):
    """Stock lime_image on every decoded row; returns (seconds, weights per row, target)."""
    import numpy as np
    import torch
    from lime.lime_image import LimeImageExplainer

    def classifier(batch):
        with torch.no_grad():
            return torch.softmax(task(torch.from_numpy(batch).permute(0, 3, 1, 2).float()), -1).double().numpy()

    target = ladder.predictions[0].indices[0]
    weights = []
    start = time.perf_counter()
    for r in range(1, len(ladder)):
        img = ladder.images[r].permute(1, 2, 0).double().numpy()
        e = LimeImageExplainer(random_state=seed).explain_instance(
            img, classifier, top_labels=5, num_samples=samples, random_seed=seed, segmentation_fn=lambda _: segments)
        w = np.zeros(int(segments.max()) + 1)
        exp = e.local_exp.get(target)
        if exp is None:  # the target left stock's top 5 on this rung: fit it as stock would
            exp = LimeImageExplainer(random_state=seed).explain_instance(
                img, classifier, labels=(target,), top_labels=None, num_samples=samples, random_seed=seed,
                segmentation_fn=lambda _: segments).local_exp[target]
        for f, v in exp:
            w[f] = v
        weights.append(w)
    return time.perf_counter() - start, np.stack(weights)


def top5(w):
    import numpy as np

    return [list(map(int, np.argsort(-row, kind="stable")[:5])) for row in w]


def one_image(x, task, samples, seed, bf16):
    import numpy as np

    from hmxai.explain.ladder import rate_ladder
    from hmxai.explain.lime import explain_lime

    ladder = rate_ladder(x, LADDER, task=task)
    t = time.perf_counter()
    ours = explain_lime(ladder, task, num_samples=samples, seed=seed, progress=False)
    ours_s = time.perf_counter() - t
    segments = ours.segments.numpy()
    stock_s, stock_w = stock_run(ladder, task, segments, samples, seed)
    ours_w = ours.weights[1:].numpy()
    res = {"superpixels": int(segments.max()) + 1, "rungs": len(ladder) - 1,
           "stock_seconds": stock_s, "ours_seconds": ours_s, "ratio_6_vs_7": stock_s / ours_s,
           "ratio_per_row": (stock_s / (len(ladder) - 1)) / (ours_s / len(ladder)),
           "same_top5": top5(ours_w) == top5(stock_w),
           "same_top5_set": [set(a) == set(b) for a, b in zip(top5(ours_w), top5(stock_w))],
           "max_abs_weight_difference": float(np.abs(ours_w - stock_w).max()),
           "max_abs_weight": float(np.abs(stock_w).max())}
    if bf16:
        t = time.perf_counter()
        fast = explain_lime(ladder, task, num_samples=samples, seed=seed, precision="bfloat16", progress=False)
        res["bf16_seconds"] = time.perf_counter() - t
        res["bf16_ratio_6_vs_7"] = stock_s / res["bf16_seconds"]
        bw = fast.weights[1:].numpy()
        res["bf16_same_top5_as_stock"] = top5(bw) == top5(stock_w)
        res["bf16_same_top5_set"] = [set(a) == set(b) for a, b in zip(top5(bw), top5(stock_w))]
        res["bf16_max_abs_weight_difference"] = float(np.abs(bw - stock_w).max())
    return res


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--images", type=int, default=1)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-bf16", action="store_true")
    parser.add_argument("--out", default=None, help="also write the JSON here")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from hmxai.datasets import data_root
    from hmxai.tasks import create_task
    from hmxai.train.data import imagenet_split

    task = create_task("efficientnet-lite0")
    _, held = imagenet_split(data_root(args.data) / "imagenet-samples")
    out = {"setup": {"ladder": LADDER, "task": "efficientnet-lite0", "crop": 224, "samples": args.samples,
                     "seed": args.seed, "threads": args.threads, "torch": torch.__version__,
                     "machine": platform.processor() or platform.machine()},
           "images": []}
    for path in held[: args.images]:
        res = one_image(crop224(path), task, args.samples, args.seed, not args.no_bf16)
        res["image"] = Path(path).name
        out["images"].append(res)
        print(json.dumps(res), file=sys.stderr)
    text = json.dumps(out, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
