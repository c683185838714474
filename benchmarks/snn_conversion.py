"""Conversion quality and speed of efficientnet-lite0-snn on the 150 held-out ImageNet samples.

    python benchmarks/snn_conversion.py                  # the shipped neuron, T = 1 .. 128
    python benchmarks/snn_conversion.py --neuron if --steps 8,32,128
    python benchmarks/snn_conversion.py --images 24 --steps 16

For each T: top-1 agreement with the ANN (EfficientNet-Lite0 on the same preprocessed image)
and top-1 accuracy against the labels. Results are stored after every T in
``benchmarks/results/snn_conversion.json`` (a rerun skips what is there: resumable), keyed by
neuron model, burst and T. ``--speed`` also times one forward pass per image at T = 8, 32, 128
against the ANN in the same run. Data: $HMXAI_DATA (the held-out part of the fixed split).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "snn_conversion.json"


def main() -> None:
    import torch
    from tqdm.auto import tqdm

    from hmxai.datasets import data_root
    from hmxai.images import load_image
    from hmxai.spiking.calibrate import calibration_indices
    from hmxai.spiking.zoo import DEFAULT_BURST, DEFAULT_NEURON
    from hmxai.tasks import create_task
    from hmxai.train.data import imagenet_split

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", default="1,2,4,8,16,32,64,128")
    p.add_argument("--neuron", default=DEFAULT_NEURON)
    p.add_argument("--burst", type=int, default=DEFAULT_BURST)
    p.add_argument("--images", type=int, default=150)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--speed", action="store_true")
    p.add_argument("--split", default="held-out", choices=("held-out", "train"),
                   help="train: images of the training split that calibration did not use (to choose settings)")
    p.add_argument("--out", default=str(RESULTS))
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="torch threads (1 when another job shares the cores: oversubscribed threads thrash)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    root = data_root(os.environ.get("HMXAI_DATA"))
    index = json.loads((root / "imagenet-samples" / "imagenet_class_index.json").read_text())
    wnid = {w: int(k) for k, (w, _) in index.items()}
    train, held = imagenet_split(root / "imagenet-samples")
    if args.split == "train":  # calibration took train[i * 600 // 128]; these are never among them
        used = set(calibration_indices(len(train), 128))
        held = [p for i, p in enumerate(train) if i % 12 == 5 and i not in used]
    held = held[: args.images]
    ann = create_task("efficientnet-lite0")
    ann.net.eval()  # the task switches modes per call; here its network is called directly
    snn = create_task("efficientnet-lite0-snn", neuron=args.neuron, burst=args.burst if args.neuron != "if" else 1)
    x = torch.cat([ann.preprocess(load_image(p)) for p in held])
    labels = torch.tensor([wnid[p.stem] for p in held])
    with torch.no_grad():
        ann_top = torch.cat([ann.net(x[i : i + 32]) for i in range(0, len(x), 32)]).argmax(1)
    out_path = Path(args.out)
    store = json.loads(out_path.read_text()) if out_path.is_file() else {}
    store.setdefault("ann", {})["accuracy"] = round(float((ann_top == labels).double().mean()), 4)
    store["ann"]["images"] = len(held)
    key = args.neuron if args.neuron == "if" else f"{args.neuron}-{args.burst}"
    key += "-train-split" if args.split == "train" else ""
    rows = store.setdefault(key, {})
    net = snn.net
    net.budget = 128
    for T in [int(t) for t in args.steps.split(",")]:
        if str(T) in rows and rows[str(T)]["images"] == len(held):
            continue
        net.configure(steps=T)
        start = time.perf_counter()
        tops = []
        with torch.no_grad():
            for i in tqdm(range(0, len(x), args.batch), desc=f"{key} T={T}"):
                tops.append(net(x[i : i + args.batch]).argmax(1))
        top = torch.cat(tops)
        rows[str(T)] = {"images": len(held), "agreement": round(float((top == ann_top).double().mean()), 4),
                        "accuracy": round(float((top == labels).double().mean()), 4),
                        "seconds_per_image": round((time.perf_counter() - start) / len(held), 3)}
        store["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__}
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(store, indent=1) + "\n")
    if args.speed:
        one = x[:4]
        with torch.no_grad():
            t0 = time.perf_counter()
            for i in range(4):
                ann.net(one[i : i + 1])
            ann_s = (time.perf_counter() - t0) / 4
            speed = {"ann_seconds": round(ann_s, 4)}
            for T in (8, 32, 128):
                net.configure(steps=T)
                t0 = time.perf_counter()
                net(one[:1])
                s = time.perf_counter() - t0
                speed[f"T{T}"] = {"seconds": round(s, 3), "ratio_to_ann": round(s / ann_s, 1)}
        store["speed_224"] = speed
        out_path.write_text(json.dumps(store, indent=1) + "\n")
    print(json.dumps(store, indent=1))


if __name__ == "__main__":
    main()
