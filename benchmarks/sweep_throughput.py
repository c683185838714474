"""Sweep throughput on one machine: 1 worker, 2 local worker processes, a Dask LocalCluster, one run.

    python benchmarks/sweep_throughput.py --images 12

The same sweep (held-out ImageNet samples, JPEG and hmxai-msh at two qualities each,
EfficientNet-Lite0) runs into a fresh store for each engine, in this order, in one process:

* serial: this process, all cores' torch threads;
* processes: ``workers=2``, one torch thread each;
* dask: a ``distributed.LocalCluster`` of 2 worker processes, one thread each.

Reports units per second (a unit: one image coded, decoded, measured and classified) and
distinct images per second, the ratios against the serial run, and checks that the three
stores hold the same rows. Prints JSON and writes benchmarks/results/sweep-throughput.json.
Nothing else should run on the machine meanwhile (the timings are shares of the same cores).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXACT = ["image", "codec", "quality", "measured_bpp", "payload_bytes", "top1", "agreement", "accuracy"]
FLOATS = ["estimated_bpp", "psnr", "ms_ssim", "top1_probability"]

CONFIG = """
name = "throughput"
out = "{out}"
anchor = "jpeg"
threads = {threads}
[codecs]
jpeg = [20, 60]
hmxai-msh = [2, 4]
[[tasks]]
name = "efficientnet-lite0"
[[datasets]]
name = "imagenet-heldout"
path = "{data}/imagenet-samples"
split = "heldout"
labels = "imagenet"
limit = {images}
"""


def main() -> None:
    from hmxai.datasets import data_root
    from hmxai.sweep import Store, SweepConfig, run_sweep
    from hmxai.sweep.unit import VOLATILE

    p = argparse.ArgumentParser()
    p.add_argument("--images", type=int, default=12)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "sweep-throughput.json"))
    args = p.parse_args()
    data = data_root(os.environ.get("HMXAI_DATA"))
    cores = os.cpu_count() or 1
    runs, frames = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        def config(name, threads):
            path = Path(tmp) / f"{name}.toml"
            path.write_text(CONFIG.format(out=Path(tmp) / name, threads=threads, data=data, images=args.images))
            return SweepConfig.from_file(path)

        for name, kwargs, threads in (("serial", {"workers": 1}, cores), ("processes", {"workers": 2}, 1),
                                      ("dask", {}, 1)):
            cfg = config(name, threads)
            t0 = time.perf_counter()
            if name == "dask":
                from distributed import Client, LocalCluster

                with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cl, \
                        Client(cl) as client:
                    started = time.perf_counter()
                    summary = run_sweep(cfg, progress=False, scheduler=client)
            else:
                started = t0
                summary = run_sweep(cfg, progress=False, **kwargs)
            total = time.perf_counter() - t0
            runs[name] = {"units": summary.computed, "images": args.images, "seconds": summary.seconds,
                          "seconds_with_start_up": round(total, 2), "cluster_start_seconds": round(started - t0, 2),
                          "units_per_second": summary.units_per_second,
                          "images_per_second": round(args.images / summary.seconds, 4),
                          "workers": summary.workers, "torch_threads_per_worker": threads}
            frames[name] = Store(cfg.out_dir).frame().drop(columns=list(VOLATILE))
    base = runs["serial"]["units_per_second"]
    for r in runs.values():
        r["speed_vs_serial"] = round(r["units_per_second"] / base, 3)
    out = {
        "what": "one sweep (held-out ImageNet samples x jpeg q20,60 + hmxai-msh q2,4 x efficientnet-lite0) "
                "run by each engine into a fresh store, in one process, one after the other",
        "machine": {"cores": cores, "processor": platform.processor() or platform.machine()},
        "runs": runs,
        "same_rows_bit_for_bit": {k: bool(v.equals(frames["serial"])) for k, v in frames.items()},
        "same_bytes_and_predictions": {k: bool(v[EXACT].equals(frames["serial"][EXACT])) for k, v in frames.items()},
        "max_float_difference": {k: {c: float((v[c] - frames["serial"][c]).abs().max()) for c in FLOATS}
                                 for k, v in frames.items()},
        "note": "torch's CPU kernels sum in an order that depends on the thread count: the serial run (all cores) "
                "and the 1-thread workers give the same bytes and predictions, and floats within the differences shown",
    }
    text = json.dumps(out, indent=1)
    print(text)
    Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
