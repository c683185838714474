"""The explanation grid: rows = rungs of a rate ladder (rates or codecs), columns = decoded image,
one column per pixel explanation (Grad-CAM, LIME, ...), error map.

Row labels carry the measured bpp, the PSNR and the top-1 prediction with its probability. Signed
maps use a diverging colour map centred on 0; ``scale="shared"`` gives every row of a column the
same limits (rows comparable), ``scale="row"`` normalizes each row on its own. The function
returns the Figure; :func:`hmxai.plots.save_figure` writes PDF, SVG and PNG.
"""

from __future__ import annotations

from typing import Sequence, Union

import numpy as np

from hmxai.errors import InvalidArgumentError
from hmxai.plots import WIDTHS, paper_style


def _grey(image) -> np.ndarray:
    rgb = image.permute(1, 2, 0).clamp(0, 1).numpy()
    return rgb @ np.array([0.299, 0.587, 0.114])


def row_label(ladder, row: int) -> str:
    p = ladder.predictions[row]
    pred = f"{p.labels[0][:18]} ({p.probabilities[0]:.2f})"
    if row == 0:
        return f"original\n{pred}"
    i = row - 1
    return f"{ladder.codecs[i]} q{ladder.qualities[i]}\n{ladder.measured_bpp[i]:.3f} bpp, {ladder.psnr[i]:.2f} dB\n{pred}"


def plot_explanation_grid(ladder, explanations: Sequence, *, error: bool = True, scale: str = "shared",
                          width: Union[str, float] = "two-column", cmap: str = "RdBu_r", alpha: float = 0.65):
    """Grid of a ladder and its explanations (see the module docstring); returns the Figure."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import Normalize, PowerNorm

    if scale not in ("shared", "row"):
        raise InvalidArgumentError("scale must be 'shared' or 'row'")
    for e in explanations:
        if e.maps.shape[0] != len(ladder):
            raise InvalidArgumentError(f"{e.method}: the explanation does not belong to this ladder")
    rows = len(ladder)
    cols = 1 + len(explanations) + int(error)
    w = WIDTHS.get(width, width) if isinstance(width, str) else float(width)
    if not isinstance(w, (int, float)):
        raise InvalidArgumentError(f"width must be a number of inches or one of {sorted(WIDTHS)}")
    cell = w / (cols + 0.9)
    err = (ladder.images - ladder.images[:1]).abs().mean(dim=1)  # (1 + R, H, W)
    err_max = float(err.max()) or 1.0
    with paper_style():
        fig, grid = plt.subplots(rows + 1, cols, figsize=(w, cell * (rows + 0.12) + 0.5), squeeze=False,
                                 gridspec_kw={"wspace": 0.04, "hspace": 0.06, "height_ratios": [1] * rows + [0.06]})
        axes, bars = grid[:rows], grid[rows]
        titles = ["decoded"] + [f"{e.method} ({e.target_label[:14]})" for e in explanations] + (["|error| (sqrt scale)"] if error else [])
        for c, t in enumerate(titles):
            axes[0, c].set_title(t, fontsize=7)
        mappables = [None] * cols
        for r in range(rows):
            image = ladder.images[r]
            axes[r, 0].imshow(image.permute(1, 2, 0).clamp(0, 1).numpy())
            axes[r, 0].set_ylabel(row_label(ladder, r), fontsize=6, rotation=0, ha="right", va="center")
            for c, e in enumerate(explanations, start=1):
                m = e.maps[r].numpy()
                lim = e.shared_scale() if scale == "shared" else (float(np.abs(m).max()) or 1.0)
                axes[r, c].imshow(_grey(image), cmap="gray", vmin=0, vmax=1)
                mappables[c] = axes[r, c].imshow(m, cmap=cmap, norm=Normalize(-lim, lim), alpha=alpha)
                if e.segments is not None:
                    from skimage.segmentation import find_boundaries

                    edge = find_boundaries(e.segments.numpy(), mode="inner")
                    axes[r, c].imshow(np.ma.masked_where(~edge, edge), cmap="gray_r", alpha=0.35, vmin=0, vmax=1)
            if error:
                mappables[-1] = axes[r, -1].imshow(err[r].numpy(), cmap="magma", norm=PowerNorm(0.5, 0, err_max))
        for ax in axes.flat:
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
        for c in range(cols):
            shared = c == cols - 1 and error or scale == "shared"
            if c == 0 or mappables[c] is None or not shared:
                bars[c].axis("off")
                continue
            bars[c].axis("off")
            cb = fig.colorbar(mappables[c], cax=bars[c].inset_axes([0.12, 0, 0.76, 1]), orientation="horizontal")
            cb.ax.tick_params(labelsize=5)
            cb.ax.xaxis.set_major_locator(plt.MaxNLocator(3))
    return fig
