"""The zoo's model card: rendered from hmxai/zoo/card.json (written by benchmarks/kodak_card.py)."""

from __future__ import annotations

from typing import Dict


def _fmt(v, spec=".2f"):
    return "—" if v is None else (v if isinstance(v, str) else format(v, spec))


def render_markdown(card: Dict) -> str:
    t = card["training"]
    cfg = t["config"]
    k = card["kodak"]
    zoo = k["results"][card["name"]]
    lines = [
        f"# Model card: `{card['name']}`",
        "",
        "hmxai's own pretrained learned codec, shipped in the package (fp16 safetensors, loaded offline).",
        "",
        "## Model",
        f"- Architecture: mean-scale hyperprior (Minnen, Ballé, Toderici, NeurIPS 2018), CompressAI `{cfg['arch']}` "
        f"class with N = {cfg['N']}, M = {cfg['M']}: {card['parameters']:,} parameters per quality.",
        "- Weights: fp16 safetensors in `hmxai/zoo/` (CDF tables rebuilt by `update()` at load time).",
        f"- Qualities 1..{len(cfg['lambdas'])}, one model each, trained for MSE with "
        "L = bpp + λ · 255² · MSE (CompressAI's `RateDistortionLoss`).",
        "",
        "## Data",
        "- Training: the ImageNet samples of the shared data folder except every fifth in sorted order "
        "(600 images), plus the 80 COCO-tiny val2017 images. Never Kodak.",
        "- Held out for machine-side evaluation: the ImageNet samples at sorted positions 0, 5, 10, … (150 images).",
        "",
        "## Training",
    ]
    stages = t.get("stages") or [cfg]
    for i, c in enumerate(stages, start=1):
        head = f"- Stage {i}" + (" (from scratch / warm starts)" if c.get("init_from") is None else
                                 " (fine-tuning every quality from stage " + str(i - 1) + ")") + ": "
        lines.append(
            head + f"random {c['crop']}×{c['crop']} crops with horizontal flips, batch {c['batch']}; the last "
            f"{int(100 * c['late_fraction'])} % of the steps use {c['late_crop']}×{c['late_crop']} crops, batch "
            f"{c['late_batch']}. Adam, learning rate {c['lr']} with {c['warmup']} warm-up steps and cosine decay to "
            f"{c['lr_min']}; gradient clipping at {c['clip']}; auxiliary (quantile) loss with Adam at {c['aux_lr']}; "
            f"seed {c['seed']}.")
    lines += [
        "",
        "| quality | λ | warm start from | steps (per stage) | wall time | device |",
        "|---|---|---|---|---|---|",
    ]
    for q, s in sorted(t["qualities"].items(), key=lambda kv: int(kv[0])):
        ws = "scratch" if s.get("warm_start") is None else f"q{s['warm_start']}"
        per = " + ".join(str(st["steps"]) for st in s.get("stages", [s]))
        steps = f"{s['steps']} ({per})" if len(s.get("stages", [s])) > 1 else str(s["steps"])
        lines.append(f"| {q} | {s['lambda']} | {ws} | {steps} | {s['wall_seconds'] / 60:.1f} min | {s['device']} ({s['hardware']}) |")
    if t.get("notes"):
        lines += [""] + [f"- {note}" for note in t["notes"]]
    lines += [
        "",
        f"## Kodak ({len(k['images'])} images, 768×512, measured on {k['hardware']})",
        "",
        "| quality | bpp (estimated) | bpp (measured, bytes) | PSNR (dB) | MS-SSIM | encode (ms) | decode (ms) |",
        "|---|---|---|---|---|---|---|",
    ]
    for q, v in sorted(zoo.items(), key=lambda kv: int(kv[0])):
        s = v["summary"]
        lines.append(
            f"| {q} | {_fmt(s['estimated_bpp'], '.4f')} | {_fmt(s['measured_bpp'], '.4f')} | {_fmt(s['psnr'])} | "
            f"{_fmt(s['ms_ssim'], '.4f')} | {1000 * s['encode_seconds']:.0f} | {1000 * s['decode_seconds']:.0f} |"
        )
    bd = k.get("bd_rate_psnr") or {}
    if bd:
        lines += ["", "## BD-rate (PSNR) against JPEG", "",
                  "Negative: fewer bits than JPEG at equal PSNR. Cubic fit in log-rate (Bjøntegaard) and piecewise cubic (pchip).", "",
                  "| codec | cubic | pchip |", "|---|---|---|"]
        for name, row in bd.items():
            lines.append(f"| {name} | {_fmt(row.get('vs_jpeg_cubic'), '+.1f')} % | {_fmt(row.get('vs_jpeg_pchip'), '+.1f')} % |")
        zoo_vs = bd.get(card["name"], {}).get("zoo_vs", {})
        if zoo_vs:
            lines += ["", f"## BD-rate (PSNR) of `{card['name']}` against each anchor (cubic)", "",
                      "| anchor | BD-rate |", "|---|---|"]
            for name, v in zoo_vs.items():
                lines.append(f"| {name} | {_fmt(v, '+.1f')} % |")
    lines += [
        "",
        "Sources: the anchors are "
        + ("measured in the same run" if not k.get("anchors_reused") else
           f"taken from the previous measurement ({k['anchors_reused']['from']}, same images and codecs; their "
           "bytes do not depend on the zoo)")
        + " (Pillow for JPEG 4:4:4 / WebP / AVIF 4:4:4, pillow-heif "
        "x265 for HEIF 4:4:4). " + card["reference"]["source"] + ".",
        "",
        "## Reproduce",
        "```",
        "hmxai train codec configs/zoo-msh.json --out runs/zoo-msh     # resumable; --device cuda where available",
        "hmxai train codec configs/zoo-msh-ft.json --out runs/zoo-msh-ft   # stage 2 (its init_from names stage 1's folder)",
        "hmxai train export runs/zoo-msh-ft --out hmxai/zoo",
        "python benchmarks/kodak_card.py --write-card                  # this page and hmxai/zoo/card.json",
        "```",
        "",
    ]
    return "\n".join(lines)


def _pct(v) -> str:
    """A BD-rate in percent, or why it is undefined (the curves do not overlap in PSNR)."""
    if isinstance(v, str):
        return "undefined (no PSNR overlap)" if "overlap" in v else v
    return _fmt(v, "+.1f") + " %"


def render_vbr_markdown(card: Dict) -> str:
    """The variable-rate codec's card: recipe, stages, validation, Kodak at named and fractional points, BD."""
    t, k = card["training"], card["kodak"]
    cfg = t["config"]
    name = card["name"]
    rows = k["results"][name]
    named = [q for q in sorted(rows, key=float) if float(q).is_integer()]
    lambdas = cfg["lambdas"]
    lines = [
        f"# Model card: `{name}`",
        "",
        "hmxai's variable-rate learned codec: **one** set of weights for every rate, and a continuous quality "
        f"knob (any float in 1.0–{len(lambdas)}.0; the integers are its named points). Shipped in the package as "
        "fp16 safetensors, loaded offline.",
        "",
    ]
    if t.get("notes"):
        lines += ["## Status", ""] + [f"- {n}" for n in t["notes"]] + [""]
    lines += [
        "## Model",
        f"- Architecture: CompressAI's `MeanScaleHyperpriorVbr` (Kamisli, Racapé, Choi, DCC 2024: a quantization "
        f"gain per rate, learned reconstruction offsets), N = {cfg['N']}, M = {cfg['M']}: {card['parameters']:,} "
        "parameters. hmxai's subclass lets training pass any gain.",
        "- Quality q in [1, L]: λ(q) log-linear between the named points' λ; gain(q) = sqrt(λ(q) / λ_max) "
        "(CompressAI's own gain table follows the same rule). Training draws q uniformly over the whole range, so "
        "a fractional quality is a trained operating point.",
        "- Named points: " + ", ".join(f"q{i} λ={lam}" for i, lam in enumerate(lambdas, start=1)) + ".",
        "",
        "## Data",
        "- Training: the ImageNet samples except every fifth in sorted order (600), the 80 COCO-tiny images and "
        "train-extra (BSDS500 train+test 400, OSIE 698 shrunk by a random factor in 0.5–0.75 against its JPEG "
        "blocks, Urban100-half 92, Set14 6): 1,876 images. Never Kodak; the 150 held-out ImageNet samples stay out.",
        f"- Validation (checkpoints are judged here, never on Kodak): the first {cfg['val_images']} images of "
        f"`{cfg['validation']}`, coded with real bitstreams.",
        "",
        "## Recipe (`hmxai.train.vbr`)",
        "- Stage 1: the highest λ only, CompressAI's plain mean-scale path (additive noise). Stage 2: one quality "
        "per batch, uniform in [1, L]; mixed quantization (noise for the rate, straight-through rounding plus the "
        "learned offsets for the decoder's input). Stage 3: straight-through rounding for the rate too, lower "
        "learning rate.",
        "- Loss bpp + λ·255²·MSE; Adam with warm-up and cosine decay, gradient clipping; the entropy bottleneck's "
        "quantiles on their own optimizer; an exponential moving average of the weights is what ships.",
        "",
        "| stage run | device | steps | wall time | batch × crop | stage steps (1, 2, 3) | lr | init |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in t["stages"]:
        c = s["config"]
        state = " (running)" if s.get("running") else ""
        lines.append(f"| {s['run']}{state} | {s['device']} | {s['steps']:,} | {s['wall_seconds'] / 60:.1f} min | "
                     f"{c['batch']} × {c['crop']}² | {tuple(c['stage_steps'])} | {c['lr']} | "
                     f"{c.get('init_from') or 'scratch'} |")
    vals = [v for s in t["stages"] for v in s.get("validation", [])]
    if vals:
        qs = list(vals[-1]["qualities"])
        lines += ["", "Validation (real bytes; bpp / PSNR dB):", "", "| step | " + " | ".join(f"q{q}" for q in qs) + " |",
                  "|---|" + "---|" * len(qs)]
        for v in vals:
            cells = [f"{v['qualities'][q]['measured_bpp']:.3f} / {v['qualities'][q]['psnr']:.2f}" for q in qs]
            lines.append(f"| {v['step']} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"## Kodak ({len(k['images'])} images, measured on {k['hardware']})",
        "",
        "| quality | bpp (estimated) | bpp (measured, bytes) | PSNR (dB) | MS-SSIM | encode (ms) | decode (ms) |",
        "|---|---|---|---|---|---|---|",
    ]
    for q in sorted(rows, key=float):
        s = rows[q]["summary"]
        label = f"**{q}**" if q in named else q
        lines.append(f"| {label} | {_fmt(s['estimated_bpp'], '.4f')} | {_fmt(s['measured_bpp'], '.4f')} | "
                     f"{_fmt(s['psnr'])} | {_fmt(s['ms_ssim'], '.4f')} | {1000 * s['encode_seconds']:.0f} | "
                     f"{1000 * s['decode_seconds']:.0f} |")
    bd = k.get("bd_rate_psnr") or {}
    if bd:
        lines += ["", "## BD-rate (PSNR) against JPEG 4:4:4", "",
                  "Negative: fewer bits than JPEG at equal PSNR (cubic fit in log-rate, and pchip).", "",
                  "| codec | cubic | pchip |", "|---|---|---|"]
        for n, row in bd.items():
            lines.append(f"| {n} | {_pct(row.get('vs_jpeg_cubic'))} | {_pct(row.get('vs_jpeg_pchip'))} |")
        zoo_vs = bd.get(name, {}).get("zoo_vs", {})
        if zoo_vs:
            lines += ["", f"## BD-rate (PSNR) of `{name}` against each codec (cubic)", "", "| against | BD-rate |",
                      "|---|---|"]
            lines += [f"| {n} | {_pct(v)} |" for n, v in zoo_vs.items()]
    if t.get("ab"):
        lines += _ab_lines(t["ab"])
    lines += [
        "",
        "Anchors and the five-model `hmxai-msh` zoo: "
        + (f"reused from {k['anchors_reused']['from']} (same images; their bytes do not depend on this codec)"
           if k.get("anchors_reused") else "measured in the same run") + ". " + card["reference"]["source"] + ".",
        "",
        "## Reproduce",
        "```",
        "hmxai train pack configs/zoo-vbr.json --out pack        # only to carry the data to a GPU machine",
        "hmxai train vbr configs/zoo-vbr.json --out runs/vbr --device cuda --time-budget 3600",
        "hmxai train vbr configs/zoo-vbr-cpu.json --out ../runs/vbr-cpu   # CPU continuation (init_from names the weights)",
        "hmxai train export ../runs/vbr-cpu --out hmxai/zoo",
        "python benchmarks/kodak_card.py --codec hmxai-vbr --anchors-from hmxai/zoo/card.json --write-card",
        "hmxai train vbr configs/ab-vbr.json --out ../runs/ab-vbr; hmxai train vbr configs/ab-single.json --out ../runs/ab-single",
        "python benchmarks/vbr_ab.py --vbr ../runs/ab-vbr --single ../runs/ab-single --write-card   # the A/B",
        "```",
        "",
    ]
    return "\n".join(lines)


def _ab_lines(ab: Dict) -> list:
    """What one model for every rate costs: the A/B against one rate trained alone, at that rate."""
    c, r, rec = ab["comparison"], ab["rate"], ab["recipe"]
    wall = ab.get("wall_seconds") or {}
    lines = [
        "",
        "## What sharing costs: A/B against one rate trained alone",
        "",
        f"Both arms from scratch, the same N = {rec['N']}, M = {rec['M']}, data, seed, {rec['batch']} × {rec['crop']}² "
        f"crops, learning rate and stages {tuple(rec['stage_steps'])}: {ab['steps']['vbr']:,} steps each "
        f"({_fmt((wall.get('vbr') or 0) / 60, '.0f')} and {_fmt((wall.get('single') or 0) / 60, '.0f')} min, one "
        f"CPU thread each). The single-rate arm trains every batch at λ = {r['lambda']:.4g} (q{r['quality']:g}, gain 1); "
        f"the variable-rate arm draws q over the whole range. Kodak, {ab['kodak_images']} images, real bytes, "
        + ("each arm's raw weights (at so few steps the moving average still lags far behind):"
         if ab.get("weights") == "model" else "each arm's moving average:"),
        "",
        "| arm | quality | bpp (measured) | PSNR (dB) |",
        "|---|---|---|---|",
        f"| single rate | q{r['quality']:g} | {ab['single']['measured_bpp']:.4f} | {ab['single']['psnr']:.2f} |",
    ]
    for q, row in sorted(ab["vbr"].items(), key=lambda kv: float(kv[0])):
        lines.append(f"| variable rate | q{float(q):g} | {row['measured_bpp']:.4f} | {row['psnr']:.2f} |")
    rate = c.get("rate_difference")
    db = c.get("psnr_difference_db")
    lines += [
        "",
        "On the variable-rate curve (linear in log-bpp) at the single-rate model's operating point: "
        + ("PSNR " + _fmt(db, "+.2f") + " dB at equal bpp" if db is not None else "its bpp lies outside the measured curve")
        + "; "
        + ("rate " + _fmt(100 * rate, "+.1f") + " % at equal PSNR" if rate is not None
           else "its PSNR lies outside the measured curve")
        + " (negative dB and positive % are what the shared model costs).",
    ]
    if ab.get("note"):
        lines += ["", ab["note"]]
    return lines
