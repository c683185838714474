"""Energy of efficientnet-lite0-snn against its ANN, and bits versus spikes on the zoo's ladder.

    python benchmarks/snn_energy.py --images 4

On held-out ImageNet samples: per T (4, 8, 16, 32) the mean spikes, ACs, MACs and energy per image
(fp32, Horowitz 2014) against the ANN; then at T = 16, hmxai-msh at qualities 1..5 on each image:
bpp, top-1 kept (SNN on the rung vs SNN on the original), spikes and energy per rung, and where the
lowest rung's extra spikes are (q1 against q5): each layer's share of the difference, and the
difference map against the original's local edge strength. Prints JSON and writes
benchmarks/results/snn_energy.json.
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
    from hmxai.images import load_image
    from hmxai.spiking.bits import bits_vs_spikes
    from hmxai.spiking.energy import measure_task
    from hmxai.tasks import create_task
    from hmxai.train.data import imagenet_split

    p = argparse.ArgumentParser()
    p.add_argument("--images", type=int, default=4)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    _, held = imagenet_split(data_root(os.environ.get("HMXAI_DATA")) / "imagenet-samples")
    paths = held[: args.images]
    snn = create_task("efficientnet-lite0-snn")
    energy = {}
    for T in (4, 8, 16, 32):
        snn.net.configure(steps=T)
        reports = [measure_task(snn, load_image(p))[1][0] for p in paths]
        mean = lambda f: statistics.mean(f(r) for r in reports)  # noqa: E731
        energy[str(T)] = {"spikes": mean(lambda r: r.spikes), "acs": mean(lambda r: r.acs),
                          "macs": mean(lambda r: r.macs), "energy_mj": round(mean(lambda r: r.energy_j) * 1e3, 3),
                          "ann_macs": reports[0].ann_macs, "ann_energy_mj": round(reports[0].ann_energy_j * 1e3, 3),
                          "energy_ratio": round(mean(lambda r: r.energy_ratio), 2),
                          "mean_firing_rate": round(mean(lambda r: statistics.mean(
                              lc.firing_rate for lc in r.layers if lc.firing_rate is not None)), 4)}
    snn.net.configure(steps=16)
    ladders = []
    for path in paths:
        result = bits_vs_spikes(load_image(path), "hmxai-msh", [1, 2, 3, 4, 5], snn, raster=0)
        rows = result.to_dict()["rows"]
        ladders.append({"image": path.name, "rows": [
            {k: r[k] for k in ("row", "measured_bpp", "agreement", "spikes", "energy_ratio")} for r in rows],
            "where_q1_vs_q5": where(result.reports[1], result.reports[-1], snn.preprocess(result.ladder.images[:1]))})
    out = {"images": [p.name for p in paths], "energy_by_steps": energy, "bits_vs_spikes_T16": ladders}
    (ROOT / "benchmarks" / "results" / "snn_energy.json").write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))


def where(low, high, x) -> dict:
    """Where ``low`` (a rung's report) spikes more than ``high``: per-layer shares of the difference,
    and its spike-map difference against the local edge strength (Sobel magnitude, pooled to the
    spike map's cells) of ``x``, the original as the network sees it (resized, cropped)."""
    import torch
    import torch.nn.functional as F

    from hmxai.explain.common import spearman

    diff = {a.name: a.spikes - b.spikes for a, b in zip(low.layers, high.layers) if a.spikes is not None}
    total = sum(diff.values())
    early = sum(v for k, v in diff.items() if k == "stem" or (k.startswith("blocks.") and int(k.split(".")[1]) <= 7))
    gray = x[:1].mean(1, keepdim=True).float()
    sobel = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]]).view(1, 1, 3, 3)
    edges = torch.hypot(F.conv2d(gray, sobel, padding=1), F.conv2d(gray, sobel.transpose(2, 3), padding=1))
    edges = F.adaptive_avg_pool2d(edges, low.spike_map.shape)[0, 0]
    extra = (low.spike_map - high.spike_map).float()
    flat = edges <= edges.median()
    return {"spike_difference": total, "relative_difference": total / high.spikes,
            "share_stem_and_blocks_0_7": early / total if total else None,
            "spearman_extra_vs_edges": round(spearman(extra, edges), 4),
            "share_in_flattest_half": float(extra[flat].sum() / extra.sum()) if extra.sum() else None}


if __name__ == "__main__":
    main()
