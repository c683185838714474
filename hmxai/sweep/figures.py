"""Every figure and table of a sweep, from its stored rows only (``hmxai figures``).

Nothing is recomputed: the curves are averages of stored rows, the BD numbers are fitted to
those curves. Each figure is written as PDF, SVG and PNG with :func:`hmxai.plots.save_figure`
(no dates, fixed ids), so the same rows give byte-identical files on any day.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Dict, List, Optional

from hmxai.errors import InvalidArgumentError
from hmxai.plots import WIDTHS
from hmxai.sweep.results import SweepResults


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-") or "none"


def write_figures(results: SweepResults, out: str | Path, width: str = "one-column",
                  formats=("pdf", "svg", "png")) -> Dict[str, List[str]]:
    """Draw every figure and table of ``results`` into ``out``; returns {name: paths}."""
    import matplotlib.pyplot as plt

    from hmxai.plots import save_figure
    from hmxai.plots.sweep import plot_budget_shares, plot_curves, plot_overview, plot_row_metric

    if width not in WIDTHS:
        raise InvalidArgumentError(f"width must be one of {list(WIDTHS)}, got {width!r}")
    if results.ok.empty:
        raise InvalidArgumentError(f"{results.source or 'these results'} hold no successful row to draw")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    w = WIDTHS[width]
    anchor = results.anchor
    written: Dict[str, List[str]] = {}
    numbers: Dict[str, Dict] = {}

    def save(name, fig):
        written[name] = save_figure(fig, out / name, formats=formats)
        plt.close(fig)

    for ds in results.datasets:
        if results.ok[results.ok["dataset"] == ds].empty:
            continue
        human = results.curves(ds)
        numbers[f"{ds}"] = {c: v.to_dict() for c, v in human.items()}
        for metric in (m for m in results.metrics if m in ("psnr", "ms_ssim")):
            save(f"rd_{metric}_{_slug(ds)}", plot_curves(human, metric, anchor, width=w))
        for task in results.tasks(ds):
            machine = results.curves(ds, task)
            numbers[f"{ds}/{task}"] = {c: v.to_dict() for c, v in machine.items()}
            metrics = [m for m in results.metrics if m == "agreement" or (m == "accuracy" and results.has_labels(ds))]
            for metric in metrics:
                ref = results.original_accuracy(ds, task) if metric == "accuracy" else None
                save(f"rate_{metric}_{_slug(ds)}_{_slug(task)}", plot_curves(machine, metric, anchor, ref, width=w))
            rows = results.ok[(results.ok["dataset"] == ds) & (results.ok["task"] == task)]
            for metric in ("drift_spearman", "snn_energy_joules"):
                if metric in rows and rows[metric].notna().any():
                    save(f"{metric}_{_slug(ds)}_{_slug(task)}",
                         plot_row_metric(rows, metric, anchor, width=w, title=f"{ds}, {task}"))
            if "budget_machine" in rows and rows["budget_machine"].notna().any():
                save(f"bit_budget_{_slug(ds)}_{_slug(task)}", plot_budget_shares(rows, width=w, title=f"{ds}, {task}"))

    table = _bd_table(results)
    pchip = _bd_table(results, "pchip")
    if pchip is not None:
        for ext, text in (("md", pchip.to_markdown()), ("csv", pchip.to_csv()), ("tex", pchip.to_latex())):
            (out / f"bd_table_pchip.{ext}").write_text(text)
        written["bd_table_pchip"] = [str(out / f"bd_table_pchip.{e}") for e in ("md", "csv", "tex")]
    if table is not None:
        (md, mt, mm), (hd, _) = table.machine, table.human
        machine = results.curves(md, mt)
        ref = results.original_accuracy(md, mt) if mm == "accuracy" else None
        save("overview", plot_overview(results.curves(hd), machine, mm, anchor, ref))
        for ext, text in (("md", table.to_markdown()), ("csv", table.to_csv()), ("tex", table.to_latex()),
                          ("json", json.dumps(table.to_dict(), indent=1, sort_keys=True) + "\n")):
            (out / f"bd_table.{ext}").write_text(text)
        written["bd_table"] = [str(out / f"bd_table.{e}") for e in ("md", "csv", "tex", "json")]
    (out / "curves.json").write_text(json.dumps(numbers, indent=1, sort_keys=True) + "\n")
    written["curves"] = [str(out / "curves.json")]
    return written


def _bd_table(results: SweepResults, method: str = "cubic"):
    """The BD table when the anchor has rows on both sides, else None."""
    try:
        return results.bd_table(method=method)
    except InvalidArgumentError:
        return None


def figures_from(path: str | Path, out: Optional[str | Path] = None, width: str = "one-column") -> Dict:
    """``hmxai figures``: a sweep config, results folder or Parquet file -> every figure and table
    (into ``out``, default the results folder's ``figures/``). A demo ``results.json`` is redrawn too."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        from hmxai.report import redraw_figures

        return {"figures": redraw_figures(path, out)}
    from hmxai.sweep.results import load_results

    results = load_results(path)
    if out is None:
        base = Path(results.source)
        out = (base if base.is_dir() else base.parent) / "figures"
    written = write_figures(results, out, width=width)
    return {"out": str(out), "figures": written, "rows": int(len(results.frame)),
            "failed_rows": int(len(results.failures()))}
