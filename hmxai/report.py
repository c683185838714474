"""The main job (``hmxai demo``): what hmxai shows, on the embedded sample images, in one page.

Built from the same code a paper's figures come from: the rows are a sweep
(:func:`hmxai.sweep.run_sweep`, stored in ``<out>/sweep``, resumable), the curves, the BD table
and their figures come from :func:`hmxai.sweep.figures.write_figures`. On top, three views of
the first image that only hmxai gives, each from its own public function:

* which latent channels serve the machine and which the human eye, and how the bits split
  (:func:`hmxai.channel_scores`, exact ablation; :func:`hmxai.bit_budget`);
* where the classifier looks as the rate drops (Grad-CAM over a rate ladder);
* what a spiking classifier spends on each rung (spikes and energy against the ANN).

Writes ``report.md`` (the page), ``figures/`` (PDF, SVG, PNG of every figure), ``sweep/`` (the
rows, Parquet) and ``results.parquet`` (all rows in one file). ``hmxai figures <out>/sweep``
redraws the sweep's figures from the stored rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional

from hmxai.errors import InvalidArgumentError
from hmxai.ladders import DEMO_LADDER as LADDER  # noqa: F401  (one table, in hmxai.ladders)
from hmxai.ladders import QUICK_LADDER  # noqa: F401

#: the ladder of the Grad-CAM and spiking views (a few rungs of the learned codec and of JPEG)
VIEW_LADDER = {"jpeg": (10, 50)}
VIEW_QUALITIES = (1, 3, 5)


def demo_config(out: str | Path, quick: bool = False):
    """The demo's sweep: the embedded samples, every offline codec of :data:`~hmxai.ladders.DEMO_LADDER`
    (``--quick``: one image, :data:`QUICK_LADDER`), EfficientNet-Lite0, HEIF as the anchor."""
    from hmxai.samples import sample_names
    from hmxai.sweep.config import DatasetSpec, SweepConfig, TaskSpec
    from hmxai.tasks import DEFAULT_TASK

    ladder = QUICK_LADDER if quick else LADDER
    names = sample_names()[:1] if quick else sample_names()
    return SweepConfig(name="demo", codecs=tuple((c, tuple(q)) for c, q in ladder.items()),
                       tasks=(TaskSpec(DEFAULT_TASK),), datasets=(DatasetSpec("samples", samples=tuple(names)),),
                       anchor="heif" if "heif" in ladder else "jpeg", out=str(Path(out).resolve() / "sweep"))


def write_demo_report(out: str | Path = "report", quick: bool = False, progress: bool = True) -> dict:
    """Run the demo and write the report; returns a summary dict (paths and counts)."""
    import matplotlib.pyplot as plt

    from hmxai.codecs import DEFAULT_LEARNED_CODEC
    from hmxai.plots import save_figure
    from hmxai.samples import sample_image
    from hmxai.sweep.figures import write_figures
    from hmxai.sweep.results import load_results
    from hmxai.sweep.run import run_sweep
    from hmxai.sweep.store import Store

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config = demo_config(out, quick)
    _forget_other_demo(config)
    summary = run_sweep(config, progress=progress)
    results = load_results(config.out_dir)
    Store(config.out_dir).export(out / "results.parquet")
    figures = write_figures(results, out / "figures")

    first = _clearest(results)
    x = sample_image(first)
    codec = DEFAULT_LEARNED_CODEC
    views: Dict[str, object] = {}
    steps = [("channels", _channels_view), ("gradcam", _gradcam_view)] + ([] if quick else [("spiking", _spiking_view)])
    for name, make in steps:
        fig, facts = make(x, codec, quick)
        figures[name] = save_figure(fig, out / "figures" / name)
        plt.close(fig)
        views[name] = facts

    report = out / "report.md"
    report.write_text(_markdown(results, views, first, codec, quick))
    return {"report": str(report), "results": str(out / "results.parquet"), "sweep": str(config.out_dir),
            "figures": figures, "runs": summary.units, "computed": summary.computed, "images": list(config.datasets[0].samples)}


def _clearest(results) -> str:
    """The sample the classifier is surest of (the views explain a decision, not a coin toss)."""
    rows = results.ok.drop_duplicates("image")
    return str(rows.sort_values(["original_top1_probability", "image"], ascending=[False, True])["image"].iloc[0])


def _forget_other_demo(config) -> None:
    """The demo's own store holds another demo's rows (``--quick`` then the full one, or an older
    ladder): start it again rather than refuse. Other sweeps' folders are never touched."""
    import shutil

    from hmxai.sweep.store import Store

    store = Store(config.out_dir)
    if (store.path / "manifest.json").is_file():
        manifest = store.manifest()
        if manifest.get("name") == "demo" and manifest.get("digest") != config.digest():
            shutil.rmtree(store.path)


# ---------------------------------------------------------------------- the three views
def _channels_view(x, codec_name: str, quick: bool):
    from hmxai.explain.budget import bit_budget
    from hmxai.explain.channels import channel_scores
    from hmxai.plots.channels import plot_channel_scores

    scores = channel_scores(x, codec_name, None, quality=3, method="ablation")
    budget = bit_budget(scores)
    fig = plot_channel_scores(scores, budget, sort_by="bits", top=None if not quick else 32)
    shares = budget.fractions.to_dict()
    counts = {k: budget.count(k) for k in shares}
    return fig, {"quality": 3, "fractions": shares, "counts": counts, "channels": len(budget.classes)}


def _gradcam_view(x, codec_name: str, quick: bool):
    from hmxai.explain.ladder import rate_ladder
    from hmxai.explain.pixels import drift, explain_pixels
    from hmxai.plots.explanations import plot_explanation_grid

    spec = {codec_name: (1, 5) if quick else VIEW_QUALITIES, **({} if quick else VIEW_LADDER)}
    ladder = rate_ladder(x, spec)
    cam = explain_pixels(ladder, "grad-cam")
    rows = drift(ladder, cam)
    fig = plot_explanation_grid(ladder, [cam])
    return fig, {"rows": [{"codec": d.codec, "quality": d.quality, "measured_bpp": d.measured_bpp,
                           "spearman": d.spearman, "top_iou": d.top_iou, "class_changed": d.class_changed}
                          for d in rows], "label": ladder.predictions[0].labels[0]}


def _spiking_view(x, codec_name: str, quick: bool):
    from hmxai.images import fit_within
    from hmxai.plots.spiking import plot_bits_vs_spikes
    from hmxai.spiking.bits import bits_vs_spikes

    result = bits_vs_spikes(fit_within(x, 256), codec_name, VIEW_QUALITIES, steps=8)
    fig = plot_bits_vs_spikes(result, row=1)
    ladder = result.ladder
    rows = [{"codec": ladder.codecs[i - 1], "quality": ladder.qualities[i - 1],
             "measured_bpp": ladder.measured_bpp[i - 1], "spikes": r.spikes, "energy_ratio": r.energy_ratio,
             "agrees": ladder.predictions[i].indices[0] == ladder.predictions[0].indices[0]}
            for i, r in enumerate(result.reports) if i > 0]
    return fig, {"steps": 8, "rows": rows, "original_energy_ratio": result.reports[0].energy_ratio}


# ---------------------------------------------------------------------- the page
def _pct(v: Optional[float]) -> str:
    return "–" if v is None else f"{100 * v:.0f} %"


def _at_lowest(curves) -> List[str]:
    """Per codec: its lowest rate, PSNR and agreement (the low end is where the two audiences part)."""
    out = []
    for codec, c in sorted(curves.items(), key=lambda kv: kv[1].measured_bpp[0]):
        out.append(f"| {codec} | {c.qualities[0]:g} | {c.measured_bpp[0]:.3f} | {c.psnr[0]:.2f} | {_pct(c.agreement[0])} |")
    return out


def _markdown(results, views: Dict, first: str, codec: str, quick: bool) -> str:
    ds = results.datasets[0]
    task = results.tasks(ds)[0]
    curves = results.curves(ds, task)
    images = next(iter(curves.values())).images
    lines = [
        "# hmxai: which bits serve humans, and which serve machines",
        "",
        f"This page was made by `hmxai demo` from {images} image{'s' if images != 1 else ''} that ship with "
        f"scikit-image ({', '.join(results.frame['image'].unique())}), offline. Every image was compressed to real "
        "bytes by each codec at several qualities, decoded, and shown to two audiences: a **person**, measured by "
        f"PSNR and MS-SSIM against the original, and a **machine**, the ImageNet classifier `{task}`, measured by "
        "whether it still gives the answer it gives on the original (top-1 agreement). Rates are **measured** from "
        f"the bytes. The learned codec `{codec}` is hmxai's own (weights in the package, model card in "
        "docs/model-card.md); the others are JPEG, WebP, JPEG 2000, AVIF and HEVC intra (HEIF).",
        "",
        "## 1. Two audiences, two curves",
        "",
        "Left: what a person sees as the rate grows. Right: how often the classifier keeps its answer. "
        "The anchor, HEVC intra (HEIF), is the dashed black line, as in the literature.",
        "",
        "![human and machine curves](figures/overview.png)" if "overview" in _written(results) else
        "![PSNR against rate](figures/rd_psnr_samples.png)",
        "",
        "At each codec's lowest rate:",
        "",
        "| codec | quality | bpp (measured) | PSNR (dB) | agreement |",
        "|---|---|---|---|---|",
        *_at_lowest(curves),
        "",
    ]
    try:
        table = results.bd_table(method="pchip")  # few, step-like points: no global cubic overshoot
        lines += ["The research's summary (BD numbers: the average rate change for the same quality, against the "
                  "anchor; with few images and qualities these are a demonstration, not a result):", "",
                  table.to_markdown(), ""]
    except InvalidArgumentError as exc:
        lines += [f"(No BD table: {exc}.)", ""]
    ch = views["channels"]
    f = ch["fractions"]
    lines += [
        f"## 2. Which bits serve whom ({first}, `{codec}` quality {ch['quality']})",
        "",
        f"A learned codec sends its image as {ch['channels']} latent channels. hmxai removes each channel in turn "
        "(exact ablation) and measures what the machine loses (the drop of its top class's logit) and what the "
        "person loses (the rise of the error). Each channel is then classed by whom it serves, and its bits go "
        "to that class:",
        "",
        f"- **both**: {_pct(f['both'])} of the bits ({ch['counts']['both']} channels)",
        f"- **machine** only: {_pct(f['machine'])} ({ch['counts']['machine']} channels)",
        f"- **human** only: {_pct(f['human'])} ({ch['counts']['human']} channels)",
        f"- **neither**: {_pct(f['neither'])} ({ch['counts']['neither']} channels): bits a codec for machines could drop",
        "",
        "Each bar is one channel, sorted by its bits; its colour is its class.",
        "",
        "![per-channel bits and importance](figures/channels.png)",
        "",
        "## 3. Where the machine looks as the rate drops",
        "",
        f"Grad-CAM of the classifier's answer on the original (*{views['gradcam']['label']}*) on every rung. "
        "Rank correlation with the original's map (1: the same places matter):",
        "",
        "| codec | quality | bpp | rank correlation | top-10 % overlap | answer changed |",
        "|---|---|---|---|---|---|",
    ]
    for d in views["gradcam"]["rows"]:
        lines.append(f"| {d['codec']} | {d['quality']:g} | {d['measured_bpp']:.3f} | {d['spearman']:.2f} | "
                     f"{d['top_iou']:.2f} | {'yes' if d['class_changed'] else 'no'} |")
    lines += ["", "![Grad-CAM across rates](figures/gradcam.png)", ""]
    if "spiking" in views:
        sp = views["spiking"]
        lines += [
            "## 4. A spiking machine: bits versus spikes",
            "",
            f"The same classifier converted to integrate-and-fire neurons (`efficientnet-lite0-snn`, T = {sp['steps']} "
            "time steps, on a 256-pixel version of the image). Its energy is counted from its spikes and "
            "multiply-accumulates (45 nm table, docs/spiking.md):",
            "",
            "| codec | quality | bpp | spikes | energy / ANN | agrees with the ANN on the original |",
            "|---|---|---|---|---|---|",
        ]
        for r in sp["rows"]:
            lines.append(f"| {r['codec']} | {r['quality']:g} | {r['measured_bpp']:.3f} | {r['spikes'] / 1e6:.2f} M | "
                         f"{r['energy_ratio']:.1f}× | {'yes' if r['agrees'] else 'no'} |")
        ratio = sp["original_energy_ratio"]
        lines += ["", f"Fewer bits barely change the spike count here, and this converted network spends "
                  f"{ratio:.1f}× the ANN's energy even on the original: its linear bottleneck layers still "
                  "multiply-accumulate at every time step (docs/spiking.md measures it). A spiking machine is only "
                  "frugal when its inputs to every layer are spikes.", "",
                  "![bits versus spikes](figures/spiking.png)", ""]
    lines += [
        "## Every number",
        "",
        "The rows (one per image, codec, quality and task, with the versions and weights that made them) are in "
        "`results.parquet`; every figure above in PDF, SVG and PNG is in `figures/`. Redraw the curves and the BD "
        "table from the stored rows with `hmxai figures sweep`; run `hmxai demo` again and it reuses them.",
        "",
        "<details><summary>All rows</summary>",
        "",
        "| image | codec | q | bpp (measured) | PSNR (dB) | MS-SSIM | top-1 original | top-1 decoded | agree |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    ok = results.ok.sort_values(["image", "codec", "quality"])
    for r in ok.itertuples():
        lines.append(f"| {r.image} | {r.codec} | {r.quality:g} | {r.measured_bpp:.3f} | {r.psnr:.2f} | {r.ms_ssim:.4f} | "
                     f"{r.original_top1} | {r.top1_label} | {'yes' if r.agreement else 'no'} |")
    lines += ["", "</details>", ""]
    return "\n".join(lines)


def _written(results) -> set:
    """Figure names the sweep figures include (the overview needs the anchor on both sides)."""
    try:
        results.bd_table()
        return {"overview"}
    except InvalidArgumentError:
        return set()


def redraw_figures(results_json: str | Path, out: Optional[str | Path] = None) -> List[str]:
    """Draw the rate-quality figures of a ``results.json`` written by an earlier ``hmxai demo``."""
    import json

    import matplotlib.pyplot as plt

    from hmxai.plots import save_figure
    from hmxai.plots.rate import plot_rate_quality

    results_json = Path(results_json)
    out = Path(out) if out is not None else results_json.parent
    out.mkdir(parents=True, exist_ok=True)
    try:
        rows = json.loads(results_json.read_text())["results"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InvalidArgumentError(f"{results_json} is not a results.json written by hmxai demo: {exc}") from exc
    paths = []
    for metric, stem in (("psnr", "rd_psnr"), ("ms_ssim", "rd_ms_ssim"), ("top1_agreement", "rd_agreement")):
        try:
            ax = plot_rate_quality(rows, metric)
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidArgumentError(f"{results_json} is not a results.json written by hmxai demo: {exc!r}") from exc
        paths += save_figure(ax.figure, out / stem, formats=("pdf", "png"))
        plt.close(ax.figure)
    return paths
