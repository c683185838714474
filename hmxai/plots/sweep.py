"""Figures of a sweep: rate-distortion (human), rate-accuracy (machine), explanation and energy
metrics against the rate. Every function takes the curves or rows it draws and returns its Figure.

The anchor is drawn in black with a dashed line; the other codecs take the Okabe-Ito palette in
a fixed order (sorted names), so a codec has the same colour in every figure of a paper.
"""

from __future__ import annotations

from typing import Dict, Mapping, Optional, Sequence

from hmxai.plots import ANCHOR_COLOUR, OKABE_ITO, ONE_COLUMN, TWO_COLUMN, paper_style
from hmxai.types.sweep import SweepCurve

LABELS = {
    "psnr": "PSNR (dB)",
    "ms_ssim": "MS-SSIM",
    "accuracy": "top-1 accuracy (%)",
    "agreement": "top-1 agreement with the original (%)",
    "measured_bpp": "rate (bpp, measured from bytes)",
    "drift_spearman": "Grad-CAM rank correlation with the original",
    "drift_top_iou": "Grad-CAM top-10 % IoU with the original",
    "snn_energy_joules": "SNN energy per image (mJ)",
    "spikes": "spikes per image (millions)",
}
PERCENT = ("accuracy", "agreement")


def colours(codecs: Sequence[str], anchor: Optional[str] = None) -> Dict[str, str]:
    """A stable colour per codec: the anchor black, the others the palette in sorted-name order."""
    others = sorted(c for c in set(codecs) if c != anchor)
    out = {c: OKABE_ITO[i % (len(OKABE_ITO) - 1)] for i, c in enumerate(others)}
    if anchor is not None:
        out[anchor] = ANCHOR_COLOUR
    return out


def draw_curves(ax, curves: Mapping[str, SweepCurve], metric: str, anchor: Optional[str] = None,
                palette: Optional[Dict[str, str]] = None, reference: Optional[float] = None) -> None:
    """Measured bpp vs ``metric`` for every curve on ``ax``; ``reference``: a horizontal line (the
    metric on the uncompressed images)."""
    palette = palette or colours(list(curves), anchor)
    scale = 100.0 if metric in PERCENT else 1.0
    for codec in sorted(curves, key=lambda c: (c != anchor, c)):
        curve = curves[codec]
        ys = curve.values(metric)
        if any(v is None for v in ys):
            continue
        ax.plot(curve.measured_bpp, [scale * v for v in ys], marker="o", color=palette[codec],
                linestyle="--" if codec == anchor else "-", label=codec + (" (anchor)" if codec == anchor else ""))
    if reference is not None:
        ax.axhline(scale * reference, color="0.5", linewidth=0.8, linestyle=":", label="uncompressed")
    ax.set_xlabel(LABELS["measured_bpp"])
    ax.set_ylabel(LABELS.get(metric, metric))


def _title(curves: Mapping[str, SweepCurve], task: bool = True) -> str:
    any_curve = next(iter(curves.values()))
    name = f", {any_curve.task}" if any_curve.task and task else ""
    return f"{any_curve.dataset}{name} (mean of {any_curve.images} images)"


def plot_curves(curves: Mapping[str, SweepCurve], metric: str = "psnr", anchor: Optional[str] = None,
                reference: Optional[float] = None, width: float = ONE_COLUMN):
    """One figure: ``metric`` against the measured rate, one line per codec."""
    import matplotlib.pyplot as plt

    with paper_style():
        fig, ax = plt.subplots(figsize=(width, 0.75 * min(width, ONE_COLUMN * 1.4)), layout="constrained")
        draw_curves(ax, curves, metric, anchor, reference=reference)
        ax.set_title(_title(curves, task=metric in PERCENT))
        ax.legend(frameon=False, ncol=2 if len(curves) > 4 else 1)
    return fig


def plot_overview(human: Mapping[str, SweepCurve], machine: Mapping[str, SweepCurve], machine_metric: str,
                  anchor: Optional[str] = None, reference: Optional[float] = None, width: float = TWO_COLUMN):
    """The paper's pair, two-column: PSNR vs rate (human) beside the machine metric vs rate."""
    import matplotlib.pyplot as plt

    palette = colours(list(human) + list(machine), anchor)
    with paper_style():
        fig, (a, b) = plt.subplots(1, 2, figsize=(width, 0.38 * width), layout="constrained")
        draw_curves(a, human, "psnr", anchor, palette)
        a.set_title("human: " + _title(human, task=False))
        draw_curves(b, machine, machine_metric, anchor, palette, reference=reference)
        b.set_title("machine: " + _title(machine))
        handles, labels = a.get_legend_handles_labels()
        for h, lab in zip(*b.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
        fig.legend(handles, labels, loc="outside right center", frameon=False)
    return fig


def plot_row_metric(rows, metric: str, anchor: Optional[str] = None, width: float = ONE_COLUMN,
                    title: str = ""):
    """A per-row metric (drift, energy, spikes) against the measured rate, averaged per codec and
    quality: ``rows`` is a DataFrame of successful sweep rows that have ``metric``."""
    import matplotlib.pyplot as plt

    rows = rows[rows[metric].notna()]
    scale = {"snn_energy_joules": 1e3, "spikes": 1e-6}.get(metric, 1.0)
    palette = colours(list(rows["codec"].unique()), anchor)
    with paper_style():
        fig, ax = plt.subplots(figsize=(width, 0.75 * ONE_COLUMN), layout="constrained")
        for codec in sorted(rows["codec"].unique(), key=lambda c: (c != anchor, c)):
            g = rows[rows["codec"] == codec].groupby("quality")[["measured_bpp", metric]].mean().sort_values("measured_bpp")
            ax.plot(g["measured_bpp"], scale * g[metric], marker="o", color=palette[codec],
                    linestyle="--" if codec == anchor else "-", label=codec)
        ax.set_xlabel(LABELS["measured_bpp"])
        ax.set_ylabel(LABELS.get(metric, metric))
        ax.set_title(title)
        ax.legend(frameon=False)
    return fig


def plot_budget_shares(rows, width: float = ONE_COLUMN, title: str = ""):
    """Fractions of a learned codec's latent bits serving the machine, the human, both or neither,
    against the measured rate (one panel per learned codec)."""
    import matplotlib.pyplot as plt

    from hmxai.scales import BUDGET_COLOURS

    rows = rows[rows["budget_machine"].notna()]
    codecs = sorted(rows["codec"].unique())
    with paper_style():
        fig, axes = plt.subplots(1, max(1, len(codecs)), figsize=(width, 0.7 * ONE_COLUMN), layout="constrained",
                                 squeeze=False)
        for ax, codec in zip(axes[0], codecs):
            g = rows[rows["codec"] == codec].groupby("quality")[
                ["measured_bpp", "budget_both", "budget_machine", "budget_human", "budget_neither"]].mean()
            g = g.sort_values("measured_bpp")
            ax.stackplot(g["measured_bpp"], *(g[f"budget_{k}"] for k in ("both", "machine", "human", "neither")),
                         labels=("both", "machine", "human", "neither"),
                         colors=[BUDGET_COLOURS[k] for k in ("both", "machine", "human", "neither")])
            ax.set_xlabel(LABELS["measured_bpp"])
            ax.set_title(codec)
            ax.set_ylim(0, 1)
        axes[0][0].set_ylabel("fraction of the latent bits")
        axes[0][-1].legend(frameon=False, loc="lower right")
        if title:
            fig.suptitle(title)
    return fig
