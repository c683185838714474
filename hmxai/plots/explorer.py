"""The explorer's current view as a paper figure: the four images, the numbers, top-5, channel bars."""

from __future__ import annotations

import numpy as np

from hmxai.plots import TWO_COLUMN, paper_style
from hmxai.types.explorer import BITS_SCALE, ERROR_SCALE, ExplorerView


def plot_view(view: ExplorerView, original, width: float = TWO_COLUMN):
    """Figure of ``view``: original, decoded (+ explanation), where the bits go, |error| on top;
    numbers, top-5 before/after and (learned codecs) per-channel bars below. Returns the Figure.

    ``original``: the original image, (1, 3, H, W) tensor in [0, 1] or (H, W, 3) uint8.
    """
    import matplotlib.pyplot as plt
    import torch

    from hmxai.images import to_uint8

    if isinstance(original, torch.Tensor):
        original = to_uint8(original)
    h, w = view.image_size
    with paper_style():
        fig = plt.figure(figsize=(width, width * (0.25 * h / w + 0.32)))
        grid = fig.add_gridspec(2, 4, height_ratios=[h / w, 0.9], hspace=0.35, wspace=0.08)
        axes = [fig.add_subplot(grid[0, i]) for i in range(4)]
        axes[0].imshow(original)
        axes[0].set_title("original")
        axes[1].imshow(view.decoded_image)
        if view.explanation is not None:
            peak = float(np.abs(view.explanation).max()) or 1.0
            axes[1].imshow(view.explanation, cmap="RdBu_r", vmin=-peak, vmax=peak, alpha=0.55)
        sent = "" if view.num_channels is None else f", {view.channels_kept}/{view.num_channels} ch"
        axes[1].set_title(f"{view.codec} q{view.quality}{sent}" + ("" if view.method == "none" else f" + {view.method}"))
        if view.bitmap is not None:
            im = axes[2].imshow(view.bitmap, cmap="viridis", vmin=0, vmax=BITS_SCALE, interpolation="nearest")
            fig.colorbar(im, ax=axes[2], fraction=0.046, pad=0.02).set_label("bpp")
            axes[2].set_title("where the bits go")
        else:
            axes[2].text(0.5, 0.5, "no latent\n(classical codec)", ha="center", va="center",
                         transform=axes[2].transAxes)
        im = axes[3].imshow(view.error, cmap="magma", vmin=0, vmax=ERROR_SCALE)
        fig.colorbar(im, ax=axes[3], fraction=0.046, pad=0.02)
        axes[3].set_title("|error|")
        for ax in axes:
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)

        text = fig.add_subplot(grid[1, 0])
        text.axis("off")
        est = "n/a" if view.bpp_estimated is None else f"{view.bpp_estimated:.4f}"
        lines = [f"measured {view.bpp_measured:.4f} bpp", f"estimated {est} bpp", f"PSNR {view.psnr:.2f} dB",
                 f"MS-SSIM {view.ms_ssim:.4f}", f"top-1 agrees: {'yes' if view.agreement else 'no'}",
                 f"p({view.target_label[:18]}) {view.target_probability:.3f}"]
        text.text(0, 1, "\n".join(lines), va="top", family="monospace", fontsize=6.5)

        top = fig.add_subplot(grid[1, 1])
        top.axis("off")
        rows = [f"{'original':<22}{'decoded':<22}"]
        for a, b in zip(view.original.labels, view.decoded.labels):
            rows.append(f"{a[:20]:<22}{b[:20]:<22}")
        top.text(0, 1, "\n".join(rows), va="top", family="monospace", fontsize=5.5)

        bars = fig.add_subplot(grid[1, 2:])
        if view.channel_bits is not None:
            m = len(view.channel_bits)
            kept = np.ones(m, dtype=bool) if view.kept is None else np.isin(np.arange(m), view.kept)
            bits = np.asarray(view.channel_bits)
            colors = np.where(kept, "#4c72b0", "#c8c8c8")
            bars.bar(np.arange(m), bits, color=colors, width=1.0)
            bars.set_xlim(-0.5, m - 0.5)
            bars.set_xlabel("latent channel")
            bars.set_ylabel("bits")
            if view.machine is not None:
                twin = bars.twinx()
                twin.plot(np.arange(m), view.machine, ".", color="#dd8452", markersize=2, label="machine")
                twin.plot(np.arange(m), view.human, ".", color="#55a868", markersize=2, label="human")
                twin.set_ylabel("importance")
                twin.grid(False)
                twin.legend(loc="upper right", frameon=False)
            bars.set_title("channels (grey: not sent)")
        else:
            bars.axis("off")
    return fig
