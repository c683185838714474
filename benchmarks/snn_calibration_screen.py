"""Screen calibration methods of efficientnet-lite0-snn on the training split, in the fast limit.

    python benchmarks/snn_calibration_screen.py            # percentiles x T, bias correction
    python benchmarks/snn_calibration_screen.py --steps 16,32 --images 128

A ``signed-burst`` network whose burst bound never binds sends, in ``T`` steps, exactly the
rounded clipped activation of its mean input (``SpikingEfficientNet.analog(x, steps=T)``), so one
analog pass scores a calibration for ``T`` instead of ``T`` spiking steps (50-80x faster). The
shipped burst bound (4) and float rounding at quantization steps make the real network differ
slightly: a choice made here is checked on the real spiking network afterwards
(``benchmarks/snn_conversion.py``).

Images: every image of the codec training split's ImageNet part that calibration does not use
(472 of 600 when calibrations up to 128 images are compared), never the 150 held-out ones. Score: top-1 agreement with the ANN. Methods:

* ``percentile-P``: per-channel thresholds at the P-quantile of the calibration activations;
* ``+bias``: then, site by site in network order, the mean error of each channel's input current
  (ANN minus the quantized network, over the calibration images and positions) is added to the
  bias of the convolution feeding it (bias correction, Li et al. ICML 2021), for that ``T``.

Stores ``benchmarks/results/snn_calibration_screen.json`` (keyed by calibration size, merged into
what is there).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "snn_calibration_screen.json"


def agreement(net, x, ann_top, steps, batch=32):
    import torch

    with torch.no_grad():
        top = torch.cat([net.analog(x[i : i + batch], steps=steps).argmax(1) for i in range(0, len(x), batch)])
    return round(float((top == ann_top).double().mean()), 4)


def main() -> None:
    import torch

    from hmxai.datasets import data_root
    from hmxai.images import load_image
    from hmxai.spiking.calibrate import activation_statistics, apply_thresholds, calibration_images, calibration_indices
    from hmxai.spiking.calibrate import thresholds_from
    from hmxai.spiking.calibrate import bias_correction
    from hmxai.spiking.network import SpikingEfficientNet
    from hmxai.tasks.classifiers import efficientnet_lite0
    from hmxai.train.data import imagenet_split

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", default="8,16,32")
    p.add_argument("--percentiles", default="0.99,0.995,0.998,0.999,0.9995,0.9999,1.0")
    p.add_argument("--calibration", type=int, default=64, help="calibration images (as shipped: 64)")
    p.add_argument("--exclude", type=int, default=128, help="the images of a calibration this large are never scored")
    p.add_argument("--images", type=int, default=472, help="scored images of the training split")
    p.add_argument("--bias", default="32", help="T values at which bias correction is also scored ('' for none)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--out", default=str(RESULTS))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    root = data_root(os.environ.get("HMXAI_DATA"))

    task = efficientnet_lite0()
    ann = task.net.eval()
    train, _ = imagenet_split(root / "imagenet-samples")
    # never an image that any screened calibration (up to --exclude images) uses
    used = set(calibration_indices(len(train), args.exclude))
    scored = [q for i, q in enumerate(train) if i not in used][: args.images]
    x = torch.cat([task.preprocess(load_image(q)) for q in scored])
    with torch.no_grad():
        ann_top = torch.cat([ann(x[i : i + 32]) for i in range(0, len(x), 32)]).argmax(1)
    cal, _ = calibration_images(root, args.calibration, task=task)
    start = time.perf_counter()
    stats = activation_statistics(SpikingEfficientNet(ann), cal, progress=False)
    out = Path(args.out)
    store = json.loads(out.read_text()) if out.is_file() else {}
    store["scored_images"] = len(scored)
    rows = store.setdefault(f"calibration-{args.calibration}", {})
    rows["statistics_seconds"] = round(time.perf_counter() - start, 1)
    for percentile in [float(q) for q in args.percentiles.split(",")]:
        thresholds = {k: v["threshold"] for k, v in thresholds_from(stats, percentile).items()}
        for T in [int(t) for t in args.steps.split(",")]:
            net = SpikingEfficientNet(ann)
            apply_thresholds(net, thresholds)
            row = {"agreement": agreement(net, x, ann_top, T)}
            if str(T) in args.bias.split(","):
                start = time.perf_counter()
                bias_correction(net, cal, steps=T)
                row["bias_seconds"] = round(time.perf_counter() - start, 1)
                row["agreement_bias"] = agreement(net, x, ann_top, T)
            rows[f"percentile-{percentile}/T{T}"] = row
            print(percentile, T, row, flush=True)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(store, indent=1) + "\n")
    print(json.dumps(store, indent=1))


if __name__ == "__main__":
    main()
