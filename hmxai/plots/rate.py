"""Rate-quality curves from pipeline results (objects or the dicts of results.json)."""

from __future__ import annotations

from collections import defaultdict
from typing import Dict, Iterable, List, Tuple

import numpy as np

from hmxai.plots import ONE_COLUMN, paper_style

_LABELS = {
    "psnr": "PSNR (dB)",
    "ms_ssim": "MS-SSIM",
    "top1_agreement": "top-1 agreement with original",
}


def _as_dict(r) -> dict:
    return r if isinstance(r, dict) else r.to_dict()


def average_curves(results: Iterable, metric: str) -> Dict[str, List[Tuple[float, float]]]:
    """codec -> [(mean bpp, mean metric)] per quality, averaged over images, sorted by rate."""
    groups: Dict[Tuple[str, int], List[dict]] = defaultdict(list)
    for r in map(_as_dict, results):
        groups[(r["codec"], r["quality"])].append(r)
    curves: Dict[str, List[Tuple[float, float]]] = defaultdict(list)
    for (codec, _), rows in groups.items():
        bpp = float(np.mean([row["measured_bpp"] if "measured_bpp" in row else row["bpp_measured"]  # noqa: vocabulary
                             for row in rows]))  # results.json files written before the one vocabulary too
        val = float(np.mean([float(row[metric]) for row in rows]))
        curves[codec].append((bpp, val))
    return {c: sorted(points) for c, points in sorted(curves.items())}


def plot_rate_quality(results: Iterable, metric: str = "psnr", ax=None):
    """Measured bpp vs ``metric`` (psnr, ms_ssim or top1_agreement), one line per codec.

    Returns the Axes. Each point is the mean over the images at one quality.
    """
    import matplotlib.pyplot as plt

    results = list(results)
    with paper_style():
        if ax is None:
            _, ax = plt.subplots(figsize=(ONE_COLUMN, 0.75 * ONE_COLUMN), layout="constrained")
        for codec, points in average_curves(results, metric).items():
            xs, ys = zip(*points)
            ax.plot(xs, ys, marker="o", label=codec)
        ax.set_xlabel("rate (bpp, measured from bytes)")
        ax.set_ylabel(_LABELS.get(metric, metric))
        n = len({_as_dict(r)["image_name"] for r in results})
        ax.set_title(f"mean over {n} image{'s' if n != 1 else ''}")
        ax.legend(frameon=False)
    return ax
