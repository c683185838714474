"""Explorer latency: from a slider change to the updated view model, Python side, on this machine.

    python benchmarks/explorer_latency.py                    # about 3 min on 2 cores
    python benchmarks/explorer_latency.py --out benchmarks/results/explorer-latency.json

Prints one JSON object. Setup: Kodak ``kodim01`` ($HMXAI_DATA), EfficientNet-Lite0, Grad-CAM overlay.

* **quality change**, 768x512: a ``RateExplorer`` with hmxai-msh q1..q5 and JPEG's ladder computes
  its ladders in the background (timed: the uncached views); then ``--changes`` random quality
  changes (always to another rung), each timed from ``quality.value = q`` to the panel holding
  the new view's PNGs and numbers.
* **channel-budget change**, 256x256 center crop, hmxai-msh q3: ``--changes`` changes of the
  ``channels sent`` slider to values not seen before (every one is computed: decode, real stream
  of the kept channels, top-5, metrics, PNGs), timed from ``budget.value = k`` until the panel
  shows the new decoded image, rates and top-5 (``uncached_change``) and until the Grad-CAM overlay
  follows (``with_explanation``; through the explorer's worker thread); each is followed by the
  stock computation of the same state, so both see the same machine.
* **time to exact bars**, 768x512, hmxai-msh q3: the fast view, then exact ablation of every live
  channel in the explorer's chunks (``ExplorerEngine.refine``), as the background worker runs them
  when nothing else is asked; the worst chunk is the longest a slider change can wait behind it.
* **stock baseline**, measured in the same run on the same states: what a notebook without the
  explorer does on each change (``ipywidgets.interact`` style): for a quality change
  ``run_pipeline`` (compress, decompress, top-5 of original and decoded, float64 metrics) plus
  captum Grad-CAM and zlib-6 PNGs of the decoded image and the error; for a budget change
  ``codec.analyze`` again, the masked decode, ``task.predict`` on original and decoded, Grad-CAM,
  float64 metrics and the same PNGs. Ratios are stock time over the explorer's (p50 and p95).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def cpu_times():
    """(busy, steal, total) jiffies of all CPUs from /proc/stat (Linux), or None."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + fields[4]
    steal = fields[7] if len(fields) > 7 else 0
    return sum(fields[:8]) - idle - steal, steal, sum(fields[:8])


def steal_percent(before, after):
    """Share of CPU time the hypervisor gave to other machines while this ran: timings on a
    machine with high steal are slower and noisier than the code is."""
    if before is None or after is None:
        return None
    return round(100 * (after[1] - before[1]) / max(1, after[2] - before[2]), 1)


def percentiles(seconds):
    ms = np.asarray(seconds) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 1), "p95_ms": round(float(np.percentile(ms, 95)), 1),
            "max_ms": round(float(ms.max()), 1), "n": len(ms)}


def wait_for(explorer, predicate, timeout=120.0):
    """Block until ``predicate()`` holds, woken by the panel's own trait changes (no polling, so the
    main thread does not compete with the worker for the interpreter, as in a real kernel)."""
    if predicate():
        return
    event = threading.Event()

    def check(_change):
        if predicate():
            event.set()

    explorer.panel.observe(check, names=["numbers", "overlay", "status", "decoded"])
    try:
        if not predicate() and not event.wait(timeout):
            raise TimeoutError("the explorer did not show the state")
    finally:
        explorer.panel.unobserve(check, names=["numbers", "overlay", "status", "decoded"])


def stock_quality(x, codec, task):
    from hmxai.explain.cam import cam_maps
    from hmxai.explore.render import colorize, png
    from hmxai.images import to_uint8
    from hmxai.pipeline import run_pipeline

    r = run_pipeline(x, codec, task)
    _, x_hat, _, _ = codec.roundtrip(x)  # run_pipeline does not hand back the image
    cam_maps(task, x_hat, r.original.top1)
    png(to_uint8(x_hat), 6)
    png(colorize((x_hat - x).abs().mean(1)[0].numpy(), 0, 0.15), 6)


def stock_budget(x, codec, task, kept):
    import torch

    from hmxai.explain.cam import cam_maps
    from hmxai.explain.objective import ablation_values
    from hmxai.explore.render import colorize, png
    from hmxai.images import crop_to, to_uint8
    from hmxai.metrics import ms_ssim, psnr

    latent = codec.analyze(x)
    keep = torch.zeros(latent.y_hat.shape[1], dtype=torch.bool)
    keep[list(kept)] = True
    y = torch.where(keep.view(1, -1, 1, 1), latent.y_hat, ablation_values(codec, latent))
    with torch.no_grad():
        x_hat = crop_to(codec.model.g_s(y).clamp(0, 1), latent.image_size)
    original, _ = task.predict(torch.cat([x, x_hat]))
    cam_maps(task, x_hat, original.top1)
    psnr(x, x_hat), ms_ssim(x, x_hat)
    png(to_uint8(x_hat), 6)
    png(colorize((x_hat - x).abs().mean(1)[0].numpy(), 0, 0.15), 6)


def quality_changes(x, task, changes, rng):
    from hmxai.codecs import create_codec
    from hmxai.ui import RateExplorer

    out = {}
    for codec in ("hmxai-msh", "jpeg"):
        start = time.perf_counter()
        e = RateExplorer(x, task=task, codecs=[codec], background=True)
        e.wait(1800)
        ladder_s = time.perf_counter() - start
        qs = list(e.quality.options)
        uncached = [e.engine.view(codec, q).seconds for q in qs]
        times, stock = [], []
        current = e.quality.value
        for _ in range(changes):
            q = rng.choice([v for v in qs if v != current])
            t0 = time.perf_counter()
            e.quality.value = q
            wait_for(e, lambda: e.panel.numbers.get("quality") == q and e.view.quality == q)
            times.append(time.perf_counter() - t0)
            current = q
        for q in qs:  # stock: every rung once, per change
            c = create_codec(codec, quality=q)
            t0 = time.perf_counter()
            stock_quality(x, c, task)
            stock.append(time.perf_counter() - t0)
        e.close()
        ours, base = percentiles(times), percentiles(stock)
        out[codec] = {"qualities": qs, "cached_change": ours, "uncached_view_seconds": [round(s, 3) for s in uncached],
                      "ladder_in_background_s": round(ladder_s, 2), "stock_per_change": base,
                      "ratio_p50": round(base["p50_ms"] / ours["p50_ms"], 1),
                      "ratio_p95": round(base["p95_ms"] / ours["p95_ms"], 1)}
    return out


def budget_changes(x, task, changes, rng):
    from hmxai.codecs import create_codec
    from hmxai.ui import RateExplorer

    e = RateExplorer(x, task=task, codecs=["hmxai-msh"], quality=3, background=True, ordering="bits")
    e.wait(1800)
    m = e.engine.num_channels("hmxai-msh")
    ks = rng.sample(range(1, m), changes)
    codec = create_codec("hmxai-msh", quality=3)
    times, complete, stock = [], [], []
    for k in ks:  # ours and stock alternate, so that both see the same machine (steal comes in bursts)
        t0 = time.perf_counter()
        e.budget.value = k
        wait_for(e, lambda: e.panel.numbers.get("channels_kept") == k)
        times.append(time.perf_counter() - t0)
        wait_for(e, lambda: e._shown is not None and e._shown[2] == k and e.panel.status == "")
        complete.append(time.perf_counter() - t0)
        kept = e.engine.kept("hmxai-msh", 3, k, "bits")
        t0 = time.perf_counter()
        stock_budget(x, codec, task, kept)
        stock.append(time.perf_counter() - t0)
    compute = [e.engine.view("hmxai-msh", 3, e.engine.kept("hmxai-msh", 3, k, "bits")).seconds for k in ks]
    back = []
    for k in ks[:5]:  # revisiting a budget: cached
        t0 = time.perf_counter()
        e.budget.value = k
        wait_for(e, lambda: e.panel.numbers.get("channels_kept") == k)
        back.append(time.perf_counter() - t0)
    e.close()
    ours, base = percentiles(times), percentiles(stock)
    return {"budgets": ks, "uncached_change": ours, "with_explanation": percentiles(complete),
            "view_compute_only": percentiles(compute),
            "cached_change": percentiles(back), "stock_per_change": base,
            "ratio_p50": round(base["p50_ms"] / ours["p50_ms"], 2),
            "ratio_p95": round(base["p95_ms"] / ours["p95_ms"], 2)}


def time_to_exact(x, task, codec="hmxai-msh", quality=3):
    """From opening a rung to exact channel bars, the way the explorer does it: the fast view first
    (input-x-gradient bars), then exact ablation a chunk of channels at a time, in one thread."""
    from hmxai.explore.cache import ByteLRU
    from hmxai.explore.engine import ExplorerEngine

    t0 = time.perf_counter()
    engine = ExplorerEngine(x, task, codecs=[codec], cache=ByteLRU())
    engine.images(engine.view(codec, quality, None, "none"))
    fast = time.perf_counter() - t0
    chunks = engine.exact_chunks(codec, quality)
    per_chunk = []
    for chunk in chunks:
        t1 = time.perf_counter()
        engine.refine(codec, quality, chunk)
        per_chunk.append(time.perf_counter() - t1)
    return {"codec": codec, "quality": quality, "fast_view_seconds": round(fast, 3),
            "exact_seconds": round(sum(per_chunk), 3), "time_to_exact_seconds": round(time.perf_counter() - t0, 3),
            "chunks": len(chunks), "chunk_seconds_max": round(max(per_chunk), 3),
            "live_channels": sum(len(c) for c in chunks)}


def main() -> None:
    import torch

    from hmxai.images import load_image
    from hmxai.tasks import create_task

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image", default="kodim01.png")
    p.add_argument("--changes", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None)
    args = p.parse_args()
    data = Path(os.environ.get("HMXAI_DATA", ROOT.parent / "shared" / "data"))
    x = load_image(data / "kodak" / args.image)
    if x.shape[-2] > x.shape[-1]:
        x = x.transpose(-1, -2).flip(-1).contiguous()  # portrait Kodak images: landscape 768x512
    h, w = x.shape[-2:]
    crop = x[..., (h - 256) // 2 : (h - 256) // 2 + 256, (w - 256) // 2 : (w - 256) // 2 + 256].contiguous()
    task = create_task("efficientnet-lite0")
    rng = random.Random(args.seed)
    t0 = cpu_times()
    exact = time_to_exact(x, task)
    quality = quality_changes(x, task, args.changes, rng)
    t1 = cpu_times()
    budget = budget_changes(crop, task, args.changes, rng)
    t2 = cpu_times()
    result = {
        "benchmark": "explorer-latency", "image": args.image, "size": [int(h), int(w)], "task": task.name,
        "method": "grad-cam", "machine": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "time_to_exact_bars_768x512": exact,
        "quality_change_768x512": quality,
        "budget_change_256x256": budget,
        "cpu_steal_percent": {"quality": steal_percent(t0, t1), "budget": steal_percent(t1, t2)},
        "targets_ms": {"quality_change_p95": 100, "budget_change_p95": 150},
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
