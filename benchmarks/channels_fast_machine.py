"""A fast machine score for the channel bars: which method ranks channels like exact ablation, fast.

    python benchmarks/channels_fast_machine.py            # about 6 min on 2 cores, nothing else running

hmxai-msh q3, EfficientNet-Lite0 (the explorer's inference copy: batch norm folded), 256x256 centre crops of the held-out ImageNet samples. For each
image, exact ablation (``ablation``: every live channel removed, both objectives) is the
reference; each candidate's machine scores (drop of the target logit) are compared with it by
Spearman rank correlation over the live channels, and timed in the same run. The candidates:

* ``input-x-gradient`` (the explorer's fast scores until now);
* ``decoder-ablation``: every channel removed through the decoder (exact image, exact human
  effects), the task to first order in pixels;
* ``refined``: input-x-gradient for every channel, then exact ablation of the ``top`` channels it
  ranks highest (by |estimate|).

``top`` is chosen on the first ``--choose`` held-out images (the smallest of ``--tops`` whose
median Spearman reaches 0.8) and then measured on the next ``--images`` ones, which played no part
in the choice. Prints JSON and writes benchmarks/results/channels-fast-machine.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def crop(x, side=256):
    h, w = x.shape[-2:]
    t, left = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return x[..., t : t + side, left : left + side].contiguous()


def main() -> None:
    import torch

    from hmxai.codecs import create_codec
    from hmxai.datasets import data_root
    from hmxai.explain.channels import channel_scores
    from hmxai.explain.common import spearman
    from hmxai.images import load_image
    from hmxai.tasks import create_task
    from hmxai.train.data import imagenet_split

    p = argparse.ArgumentParser()
    p.add_argument("--choose", type=int, default=10)
    p.add_argument("--images", type=int, default=30)
    p.add_argument("--tops", type=int, nargs="+", default=[16, 24, 32, 40])
    p.add_argument("--decoder-images", type=int, default=10, help="decoder-ablation is as slow as exact: fewer images")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "channels-fast-machine.json"))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    _, held = imagenet_split(data_root(os.environ.get("HMXAI_DATA")) / "imagenet-samples")
    from hmxai.explain.inference import inference_copy

    codec = create_codec("hmxai-msh", quality=3)
    # every method runs on the explorer's inference copy of the task (batch norm folded, channels
    # last; its logits equal the task's to 1e-3, checked on the first image)
    task = inference_copy(create_task("efficientnet-lite0"), probe=crop(load_image(held[0])))

    def measure(x, method, reference, **params):
        t0 = time.perf_counter()
        s = channel_scores(x, codec, task, method=method, latent=latent, **params)
        seconds = time.perf_counter() - t0
        live = reference.live
        return spearman(s.machine[live], reference.machine[live]), spearman(s.human[live], reference.human[live]), seconds

    choice = {k: [] for k in args.tops}
    for path in held[: args.choose]:
        x = crop(load_image(path))
        latent = codec.analyze(x)
        ref = channel_scores(x, codec, task, method="ablation", latent=latent)
        for k in args.tops:
            choice[k].append(measure(x, "refined", ref, top=k)[0])
    medians = {k: statistics.median(v) for k, v in choice.items()}
    top = next((k for k in args.tops if medians[k] >= 0.8), max(args.tops))

    rows = {"ablation": [], "input-x-gradient": [], f"refined (top {top})": [], "decoder-ablation": []}
    for i, path in enumerate(held[args.choose : args.choose + args.images]):
        x = crop(load_image(path))
        latent = codec.analyze(x)
        t0 = time.perf_counter()
        ref = channel_scores(x, codec, task, method="ablation", latent=latent)
        rows["ablation"].append((1.0, 1.0, time.perf_counter() - t0))
        rows["input-x-gradient"].append(measure(x, "input-x-gradient", ref))
        rows[f"refined (top {top})"].append(measure(x, "refined", ref, top=top))
        if i < args.decoder_images:
            rows["decoder-ablation"].append(measure(x, "decoder-ablation", ref))

    def summary(v):
        return {"images": len(v), "machine_spearman_median": round(statistics.median(a for a, _, _ in v), 3),
                "machine_spearman_min": round(min(a for a, _, _ in v), 3),
                "human_spearman_median": round(statistics.median(b for _, b, _ in v), 3),
                "seconds_median": round(statistics.median(c for _, _, c in v), 3)}

    out = {
        "what": "machine channel scores against exact ablation: Spearman over live channels, hmxai-msh q3, "
                "EfficientNet-Lite0, 256x256 centre crops of held-out ImageNet samples",
        "machine": {"cores": os.cpu_count(), "threads": args.threads, "processor": platform.processor() or platform.machine()},
        "choice": {"images": args.choose, "median_spearman_by_top": {str(k): round(v, 3) for k, v in medians.items()},
                   "chosen_top": top, "rule": "the smallest top whose median reaches 0.8 on the choice images"},
        "evaluation": {k: summary(v) for k, v in rows.items() if v},
        "target": {"machine_spearman": 0.8, "seconds_256x256": 1.0},
    }
    text = json.dumps(out, indent=1)
    print(text)
    Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
