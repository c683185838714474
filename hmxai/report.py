"""The main job (``hmxai demo``): pipeline over the embedded samples, a report with figures.

Writes into the output folder:

* ``results.json``  every pipeline result (measured and estimated bpp apart),
  with the versions and settings that produced it;
* ``rd_psnr.{pdf,png}``, ``rd_ms_ssim.{pdf,png}``, ``rd_agreement.{pdf,png}``:
  rate-quality curves (redraw them with ``hmxai figures results.json``);
* ``gallery.png``: the lowest-rate decode of each codec, with the machine's answer;
* ``report.md``: the tables and figures in one page.

Only models whose weights are available offline take part: hmxai's own
pretrained zoo (``hmxai-msh``, weights in the package) and the classical
anchors. CompressAI's pretrained weights need a download, so they are left out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional, Tuple  # noqa: F401

from hmxai.errors import InvalidArgumentError

from hmxai.ladders import DEMO_LADDER as LADDER  # noqa: E402  (one table, in hmxai.ladders)
from hmxai.ladders import QUICK_LADDER  # noqa: E402
FIGURES = (("psnr", "rd_psnr"), ("ms_ssim", "rd_ms_ssim"), ("top1_agreement", "rd_agreement"))


def write_demo_report(out: str | Path = "report", quick: bool = False, progress: bool = True) -> dict:
    """Run the demo and write the report; returns a summary dict (paths and counts)."""
    from hmxai.info import collect_info
    from hmxai.pipeline import run_ladder
    from hmxai.plots.gallery import plot_decoded_gallery
    from hmxai.samples import sample_image, sample_names
    from hmxai.tasks import DEFAULT_TASK, create_task

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = sample_names()[:1] if quick else sample_names()
    ladder = QUICK_LADDER if quick else LADDER
    codecs = [(name, q) for name, qs in ladder.items() for q in qs]
    task = create_task(DEFAULT_TASK)
    images = [(n, sample_image(n)) for n in names]
    results = run_ladder(images, codecs, task, progress=progress)

    info = collect_info()
    payload = {
        "settings": {"images": list(names), "ladder": {k: list(v) for k, v in ladder.items()},
                     "task": task.describe()},
        "versions": info["versions"],
        "results": [r.to_dict() for r in results],
    }
    results_path = out / "results.json"
    results_path.write_text(json.dumps(payload, indent=1))
    figures = redraw_figures(results_path, out)

    # gallery: first image, lowest quality of each codec
    x = images[0][1]
    first = next(r for r in results if r.image_name == names[0])
    panels = [(f"original\n-> {first.original.labels[0]} ({first.original.probabilities[0]:.2f})", x)]
    for name, qs in ladder.items():  # the rungs the pipeline computed: no second encode
        match = next(r for r in results if r.image_name == names[0] and r.codec == name and r.quality == qs[0])
        panels.append(
            (f"{name} q{qs[0]}: {match.measured_bpp:.2f} bpp, {match.psnr:.1f} dB\n"
             f"-> {match.decoded.labels[0]} ({match.decoded.probabilities[0]:.2f})",
             match.rung.x_hat)
        )
    fig = plot_decoded_gallery(panels)
    fig.savefig(out / "gallery.png")
    figures.append(str(out / "gallery.png"))

    report = out / "report.md"
    report.write_text(_markdown(payload, results, names))
    return {"report": str(report), "results": str(results_path), "figures": figures,
            "runs": len(results), "images": list(names)}


def redraw_figures(results_json: str | Path, out: Optional[str | Path] = None) -> List[str]:
    """Draw the rate-quality figures from a stored results.json (PDF and PNG)."""
    import matplotlib.pyplot as plt

    from hmxai.plots.rate import plot_rate_quality

    results_json = Path(results_json)
    out = Path(out) if out is not None else results_json.parent
    out.mkdir(parents=True, exist_ok=True)
    try:
        rows = json.loads(results_json.read_text())["results"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InvalidArgumentError(f"{results_json} is not a results.json written by hmxai demo: {exc}") from exc
    paths = []
    for metric, stem in FIGURES:
        try:
            ax = plot_rate_quality(rows, metric)
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidArgumentError(f"{results_json} is not a results.json written by hmxai demo: {exc!r}") from exc
        for ext in ("pdf", "png"):
            path = out / f"{stem}.{ext}"
            ax.figure.savefig(path)
            paths.append(str(path))
        plt.close(ax.figure)
    return paths


def _markdown(payload: dict, results, names) -> str:
    lines = [
        "# hmxai demo report",
        "",
        f"Images: {', '.join(names)} (scikit-image samples). Task: {payload['settings']['task']['task']} "
        f"({payload['settings']['task']['weights']}).",
        "Rates are **measured** from the bytes of each codec's real bitstream. "
        "Top-1 agreement compares the classifier's answer on the decoded image with its answer on the original.",
        "",
        "Learned codec: `hmxai-msh`, hmxai's own mean-scale hyperprior (weights ship in the package; "
        "model card in docs/model-card.md). CompressAI's pretrained weights need a download and are left out.",
        "",
        "| image | codec | q | bpp (measured) | PSNR (dB) | MS-SSIM | top-1 original | top-1 decoded | agree |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.image_name} | {r.codec} | {r.quality} | {r.measured_bpp:.3f} | {r.psnr:.2f} | "
            f"{r.ms_ssim:.4f} | {r.original.labels[0]} | {r.decoded.labels[0]} | "
            f"{'yes' if r.top1_agreement else 'no'} |"
        )
    lines += ["", "![PSNR vs rate](rd_psnr.png)", "", "![MS-SSIM vs rate](rd_ms_ssim.png)", "",
              "![top-1 agreement vs rate](rd_agreement.png)", "", "![lowest rate of each codec](gallery.png)", "",
              "Redraw the figures from the stored results: `hmxai figures results.json`.", ""]
    return "\n".join(lines)
