"""Decoded images side by side, labelled with rate, quality and the machine's answer."""

from __future__ import annotations

from typing import Sequence, Tuple

from torch import Tensor

from hmxai.plots import TWO_COLUMN, paper_style


def plot_decoded_gallery(panels: Sequence[Tuple[str, Tensor]], ncols: int = 3):
    """Show (title, image (1, 3, H, W) in [0, 1]) panels in a grid; returns the Figure."""
    import math

    import matplotlib.pyplot as plt

    from hmxai.images import to_uint8

    nrows = math.ceil(len(panels) / ncols)
    h, w = panels[0][1].shape[-2:]
    with paper_style():
        fig, axes = plt.subplots(
            nrows, ncols, figsize=(TWO_COLUMN, TWO_COLUMN / ncols * h / w * nrows + 0.3 * nrows),
            layout="constrained", squeeze=False,
        )
        for ax in axes.flat:
            ax.axis("off")
        for ax, (title, x) in zip(axes.flat, panels):
            ax.imshow(to_uint8(x))
            ax.set_title(title, fontsize=7)
    return fig
