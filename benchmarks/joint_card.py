"""The machine-aware codec's card (hmxai-hm) from the paper sweep's stored rows; prints JSON.

    hmxai sweep configs/sweep-paper.toml --workers 1 --consolidate     # computes hmxai-hm's rows (resumable)
    python benchmarks/joint_card.py --write-card                       # hmxai/zoo/hmxai-hm-card.json + docs/model-card-hm.md

Machine side: top-1 agreement with EfficientNet-Lite0 on the original image, and accuracy, on the
150 held-out ImageNet samples; human side: PSNR on Kodak (24). BD (cubic) against the human zoo
(hmxai-vbr) and against HEVC intra (heif), i.e. the research's table, from ``SweepResults.bd_table``.
The training facts come from the run's summary (``--run``) or the stored training record.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CODEC, HUMAN = "hmxai-hm", "hmxai-vbr"


def measure(sweep_dir: Path) -> dict:
    sys.path.insert(0, str(ROOT))
    from hmxai.sweep.results import load_results

    results = load_results(sweep_dir)
    out = {"sweep": str(sweep_dir.relative_to(ROOT)) if sweep_dir.is_relative_to(ROOT) else str(sweep_dir),
           "tables": {}, "curves": {}}
    for anchor in (HUMAN, "heif"):
        for metric in ("agreement", "accuracy"):
            table = results.bd_table(anchor=anchor, machine_metric=metric)
            out["tables"][f"{anchor}/{metric}"] = {"markdown": table.to_markdown(), "rows": {
                r.codec: {"machine_rate": r.machine_rate.to_dict(), "machine_points": r.machine_metric.to_dict(),
                          "human_rate": r.human_rate.to_dict(), "human_db": r.human_metric.to_dict()}
                for r in table.rows}}
    for name, ds, task in (("kodak", "kodak", None), ("imagenet-heldout", "imagenet-heldout", "efficientnet-lite0")):
        curves = results.curves(ds, task, codecs=[HUMAN, CODEC, "heif"])
        out["curves"][name] = {c: {"qualities": list(v.qualities), "measured_bpp": list(v.measured_bpp),
                                   "psnr": list(v.psnr), "agreement": list(v.agreement), "accuracy": list(v.accuracy),
                                   "images": v.images} for c, v in curves.items()}
    return out


def render(card: dict) -> str:
    t, k = card["training"], card["measured"]
    cfg = t["config"]
    vs_h = k["tables"][f"{HUMAN}/agreement"]["rows"][CODEC]
    lines = [f"# Model card: `{CODEC}`", "",
             "hmxai's machine-aware codec: the human codec `hmxai-vbr` fine-tuned for humans **and** machines with "
             "`L = R + λh·D_h(x, x̂) + λm·D_m`, the research's objective at laptop scale. Same architecture, same "
             "continuous quality knob (1.0–6.0), same bitstream format; fp16 safetensors in the package, offline.", "",
             "## Objective and recipe (`hmxai train joint`, `hmxai.train.joint`)",
             f"- R: the estimated bits per pixel of `y` and `z`. D_h: MSE, weighted by the human codec's own "
             f"λ(q)·255² at the batch's quality, times λh = {cfg['lambda_h']}. D_m: T²·KL(softmax(t(x)/T) ‖ "
             f"softmax(t(x̂)/T)) with t = {cfg['teacher']} (frozen, inference mode), T = {cfg['temperature']}"
             + (f", plus {cfg['feature_weight']} × the normalized distance of its Grad-CAM layer's features"
                if cfg["feature_weight"] else "") + f"; λm = {cfg['lambda_m']}.",
             f"- Variant `{cfg['variant']}`: " + ("every weight of the codec fine-tunes." if cfg["variant"] == "full" else
                                                 "only a light latent adapter trains; the human codec is frozen."),
             f"- From `{cfg['init_from']}`; {t['steps']:,} steps (stages 1/2/3: {tuple(cfg['stage_steps'])}), batch "
             f"{cfg['batch']} × {cfg['crop']}² crops, Adam lr {cfg['lr']} → {cfg['lr_min']} (cosine), stage 3 "
             f"{cfg['lr_stage3']}, EMA {cfg['ema_decay']} (what ships). {t['wall_seconds'] / 60:.0f} min on "
             f"{t['hardware']} ({t['device']}).",
             "- Data: the human codec's training split (ImageNet samples but the 150 held out, COCO-tiny, "
             "train-extra); never Kodak, never the held-out samples. Validation: the first "
             f"{cfg['val_images']} images of `{cfg['validation']}` with real bitstreams (bpp, PSNR, agreement).", ""]
    if t.get("validation"):
        qs = list(t["validation"][-1]["qualities"])
        lines += ["Validation (real bytes; bpp / PSNR dB / top-1 agreement):", "",
                  "| step | " + " | ".join(f"q{q}" for q in qs) + " |", "|---|" + "---|" * len(qs)]
        for v in t["validation"]:
            cells = [f"{v['qualities'][q]['measured_bpp']:.3f} / {v['qualities'][q]['psnr']:.2f} / "
                     f"{100 * v['qualities'][q].get('agreement', float('nan')):.0f} %" for q in qs]
            lines.append(f"| {v['step']} | " + " | ".join(cells) + " |")
        lines.append("")
    mr, hr = vs_h["machine_rate"]["value"], vs_h["human_rate"]["value"]
    lines += ["## Against the human zoo (the issue's aim)", "",
              f"- Machine axis: BD-rate at equal top-1 agreement **{_pct(mr)}** (aim: -15 % or less); BD-agreement "
              f"{_pts(vs_h['machine_points']['value'])}.",
              f"- Human axis: BD-rate (PSNR, Kodak) **{_pct(hr)}** (aim: +10 % or less); BD-PSNR "
              f"{_db(vs_h['human_db']['value'])}.", ""]
    for key, title in ((f"{HUMAN}/agreement", "agreement, against hmxai-vbr"), (f"{HUMAN}/accuracy", "accuracy, against hmxai-vbr"),
                       ("heif/agreement", "agreement, against HEVC intra"), ("heif/accuracy", "accuracy, against HEVC intra")):
        lines += [f"## The research's table: {title}", "", k["tables"][key]["markdown"].strip(), ""]
    lines += ["## Curves", "", "| codec | q | Kodak bpp | Kodak PSNR | ImageNet bpp | agreement | accuracy |",
              "|---|---|---|---|---|---|---|"]
    kc, ic = k["curves"]["kodak"], k["curves"]["imagenet-heldout"]
    for c in (HUMAN, CODEC):
        for i, q in enumerate(kc[c]["qualities"]):
            j = ic[c]["qualities"].index(q)
            lines.append(f"| {c} | {q:g} | {kc[c]['measured_bpp'][i]:.4f} | {kc[c]['psnr'][i]:.2f} | "
                         f"{ic[c]['measured_bpp'][j]:.4f} | {100 * ic[c]['agreement'][j]:.1f} % | "
                         f"{100 * ic[c]['accuracy'][j]:.1f} % |")
    lines += ["", f"Rows: the paper sweep (`configs/sweep-paper.toml`, `{k['sweep']}`), real bytes per image.", "",
              "## Reproduce", "```",
              "hmxai train joint configs/joint-hm.json --data ../shared/data --out ../runs/joint-hm --export-to hmxai/zoo",
              "hmxai sweep configs/sweep-paper.toml --data ../shared/data --workers 1 --consolidate",
              "python benchmarks/joint_card.py --run ../runs/joint-hm --write-card", "```", ""]
    if t.get("notes"):
        lines[4:4] = ["## Status", ""] + [f"- {n}" for n in t["notes"]] + [""]
    return "\n".join(lines)


def _pct(v):
    return "n/a" if v is None else f"{v:+.1f} %"


def _pts(v):
    return "n/a" if v is None else f"{v:+.2f} points"


def _db(v):
    return "n/a" if v is None else f"{v:+.2f} dB"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweep", default=str(ROOT / "benchmarks/results/paper-sweep"))
    parser.add_argument("--run", default=None, help="the joint run folder (its summary.json: training facts)")
    parser.add_argument("--note", action="append", default=[], help="a status line for the card (repeatable)")
    parser.add_argument("--write-card", action="store_true")
    args = parser.parse_args(argv)
    measured = measure(Path(args.sweep))
    record = ROOT / "hmxai/zoo" / f"{CODEC}-training.json"
    if args.run:
        summary = json.loads((Path(args.run) / "summary.json").read_text())
        training = {k: summary[k] for k in ("steps", "wall_seconds", "device", "hardware", "history", "validation",
                                            "config", "trainable_parameters") if k in summary}
        training.update(run=Path(args.run).name, init_weights_id=summary.get("init_weights_id"))
        training["notes"] = args.note
        if args.write_card:
            record.write_text(json.dumps(training, indent=1))
    else:
        training = json.loads(record.read_text())
        if args.note:
            training["notes"] = args.note
            if args.write_card:
                record.write_text(json.dumps(training, indent=1))
    card = {"name": CODEC, "training": training, "measured": measured}
    if args.write_card:
        (ROOT / "hmxai/zoo" / f"{CODEC}-card.json").write_text(json.dumps(card, indent=1))
        (ROOT / "docs/model-card-hm.md").write_text(render(card))
    print(json.dumps({"bd": {k: v["rows"].get(CODEC) for k, v in measured["tables"].items()}}, indent=1))


if __name__ == "__main__":
    main()
