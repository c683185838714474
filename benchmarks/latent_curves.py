"""Rate-accuracy-compute curves: decode-then-classify, the latent ANN and the latent SNN.

    python benchmarks/latent_curves.py --images 150 --qualities 1,2,3,4,5,6

On the held-out ImageNet samples, hmxai-vbr at each quality (real bytes, hmxai.decode): top-1
agreement with EfficientNet-Lite0 on the original image and top-1 accuracy against the labels,
for each machine, with MACs per image (the decoder included where it runs) and the SNN's energy
(fp32, Horowitz 2014). Rows are appended per image to a JSON-lines file (a rerun skips what is
there: resumable); the summary is printed and written to benchmarks/results/latent_curves.json.

    python benchmarks/latent_curves.py --markdown   # docs/latent.md's table from the stored summary
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
    from tqdm.auto import tqdm

    from hmxai.datasets import data_root
    from hmxai.latent import create_latent_task
    from hmxai.latent.ladder import machines_ladder
    from hmxai.tasks import create_task
    from hmxai.train.data import imagenet_split

    p = argparse.ArgumentParser()
    p.add_argument("--images", type=int, default=150)
    p.add_argument("--qualities", default="1,2,3,4,5,6")
    p.add_argument("--steps", type=int, default=16, help="the latent SNN's T")
    p.add_argument("--rows", default=str(ROOT / "benchmarks" / "results" / "latent_curves_rows.jsonl"))
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "latent_curves.json"))
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--markdown", action="store_true", help="print the stored summary as docs/latent.md's table")
    args = p.parse_args()
    if args.markdown:
        print(markdown(json.loads(Path(args.out).read_text())))
        return
    torch.set_num_threads(args.threads)
    qualities = [float(q) for q in args.qualities.split(",")]
    root = data_root(os.environ.get("HMXAI_DATA"))
    _, held = imagenet_split(root / "imagenet-samples")
    held = held[: args.images]
    index = json.loads((root / "imagenet-samples" / "imagenet_class_index.json").read_text())
    wnid = {w: int(k) for k, (w, _) in index.items()}
    labels = {p.name: wnid.get(p.stem) for p in held}
    rows_path = Path(args.rows)
    weights = weights_of()
    done = set()
    if rows_path.is_file():
        stored = [json.loads(line) for line in rows_path.read_text().splitlines() if line.strip()]
        stale = [r["image"] for r in stored if r.get("weights") != weights]
        if stale:
            raise SystemExit(f"{rows_path} holds rows of other weights ({len(stale)} images, e.g. {stale[0]}): "
                             f"move it away or pass --rows NEW to measure the installed ones {weights}")
        done = {r["image"] for r in stored}
    image_task = create_task("efficientnet-lite0")
    tasks = [create_latent_task("efficientnet-lite0-latent"),
             create_latent_task("efficientnet-lite0-latent-snn", steps=args.steps)]
    with rows_path.open("a") as f:
        for path in tqdm([p for p in held if p.name not in done], desc="latent curves"):
            ladder = machines_ladder(path, "hmxai-vbr", qualities, tasks, image_task)
            f.write(json.dumps({"image": path.name, "label": labels.get(path.name), "weights": weights,
                                **ladder.to_dict()}) + "\n")
            f.flush()
    records = [json.loads(line) for line in rows_path.read_text().splitlines() if line.strip()]
    records = [r for r in records if r["image"] in {p.name for p in held}]
    summary = {"images": len(records), "qualities": qualities, "snn_steps": args.steps, "weights": weights, "rows": []}
    for qi, q in enumerate(qualities):
        rungs = [r["rungs"][qi] for r in records]
        row = {"quality": q, "measured_bpp": statistics.mean(r["measured_bpp"] for r in rungs),
               "psnr": statistics.mean(r["psnr"] for r in rungs)}
        for mi, m in enumerate(rungs[0]["machines"]):
            name = m["machine"]
            ms = [r["machines"][mi] for r in rungs]
            row[name] = {"agreement": statistics.mean(float(x["agreement"]) for x in ms),
                         "accuracy": statistics.mean(float(x["top1"] == rec["label"]) for x, rec in zip(ms, records)
                                                     if rec["label"] is not None),
                         "gmacs": statistics.mean(x["macs"] for x in ms) / 1e9}
            if ms[0]["energy_mj"] is not None:
                row[name]["energy_mj"] = statistics.mean(x["energy_mj"] for x in ms)
                row[name]["spikes"] = statistics.mean(x["spikes"] for x in ms)
        for m in (ANN, SNN):  # paired difference with decode-then-classify, image by image
            by = [{x["machine"]: float(x["agreement"]) for x in r["machines"]} for r in rungs]
            d = [b[m] - b[DECODE] for b in by]
            row[m]["agreement_difference"] = statistics.mean(d)
            row[m]["difference_ci95"] = 1.96 * statistics.stdev(d) / len(d) ** 0.5 if len(d) > 1 else None
        summary["rows"].append(row)
    summary["reference_accuracy"] = statistics.mean(float(r["reference"] == r["label"]) for r in records
                                                    if r["label"] is not None)
    Path(args.out).write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


def weights_of() -> dict:
    """Which weights the rows measure: the codec's id and the two latent files' hashes."""
    from hmxai.codecs import create_codec
    from hmxai.latent.zoo import LATENT_FILE, LATENT_SNN_FILE
    from hmxai.spiking.calibrate import sha256_of

    return {"codec": create_codec("hmxai-vbr").weights_id, "latent": sha256_of(LATENT_FILE)[:16],
            "latent_snn": sha256_of(LATENT_SNN_FILE)[:16]}


DECODE, ANN, SNN = "decode-then-classify", "efficientnet-lite0-latent", "efficientnet-lite0-latent-snn"
PJ_PER_MAC = 4.6  # fp32 multiply-accumulate, Horowitz 2014


def markdown(summary: dict) -> str:
    """The held-out table, the compute line and the target line of docs/latent.md."""
    def pair(m):
        return f"{100 * m['agreement']:.1f} / {100 * m['accuracy']:.1f} %"

    lines = ["| q | bpp | PSNR dB | decode-then-classify agreement / accuracy | latent ANN agreement / accuracy | "
             "difference (paired 95 % CI) | latent SNN agreement / accuracy | SNN energy mJ |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    met, missed = [], []
    for r in summary["rows"]:
        d, a, s = r[DECODE], r[ANN], r[SNN]
        diff = 100 * (a["agreement"] - d["agreement"])
        (met if diff >= -3 else missed).append(f"{r['quality']:g}")
        ci = f" ± {100 * a['difference_ci95']:.1f}" if a.get("difference_ci95") is not None else ""
        lines.append(f"| {r['quality']:g} | {r['measured_bpp']:.3f} | {r['psnr']:.2f} | {pair(d)} | {pair(a)} | "
                     f"{diff:+.1f}{ci} | {pair(s)} | {s['energy_mj']:.1f} |")
    first = summary["rows"][0]
    d, a, s = first[DECODE]["gmacs"], first[ANN]["gmacs"], first[SNN]["gmacs"]
    lines += ["", f"MACs: decode-then-classify {d:.2f} G, latent ANN {a:.2f} G (**{100 * a / d:.0f} %**), latent SNN "
                  f"{s:.2f} G MACs ({first[SNN]['spikes'] / 1e6:.1f} M spikes) at T = {summary['snn_steps']}. As energy "
                  f"({PJ_PER_MAC} pJ per fp32 MAC): decode-then-classify {d * PJ_PER_MAC:.1f} mJ, latent ANN "
                  f"{a * PJ_PER_MAC:.1f} mJ, latent SNN {first[SNN]['energy_mj']:.1f} mJ.",
              "",
              "Target (within 3 points of decode-then-classify at every rate, at most 50 % of its MACs): MACs "
              + ("met" if a <= 0.5 * d else "missed") + "; agreement "
              + (f"met at q {', '.join(met)}" if met else "met nowhere")
              + (f", missed at q {', '.join(missed)}" if missed else " (every rate)") + "."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
