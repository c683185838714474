"""The explorer's current view as a paper figure: the four images, the numbers, top-5, channel bars."""

from __future__ import annotations

import numpy as np

from hmxai.plots import TWO_COLUMN, paper_style
from hmxai.scales import BITS_SCALE, ERROR_SCALE
from hmxai.types.explorer import ExplorerView


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
    learned = view.channel_bits is not None
    with paper_style():
        ratios = [h / w, 0.42] + ([0.5] if learned else [])
        fig = plt.figure(figsize=(width, width * 0.25 * sum(ratios) + 0.35))
        grid = fig.add_gridspec(len(ratios), 4, height_ratios=ratios, hspace=0.45, wspace=0.06)
        axes = [fig.add_subplot(grid[0, i]) for i in range(4)]
        axes[0].imshow(original)
        axes[0].set_title("original")
        axes[1].imshow(view.decoded_image)
        if view.explanation is not None:
            peak = float(np.abs(view.explanation).max()) or 1.0
            axes[1].imshow(view.explanation, cmap="RdBu_r", vmin=-peak, vmax=peak, alpha=0.55)
        sent = "" if view.num_channels is None else f", {view.channels_kept}/{view.num_channels} ch"
        axes[1].set_title(f"{view.codec} q{view.quality}{sent}")
        if view.bitmap is not None:
            axes[2].imshow(view.bitmap, cmap="viridis", vmin=0, vmax=BITS_SCALE, interpolation="nearest")
            axes[2].set_title(f"bits (0 to {BITS_SCALE:g} bpp)")
        else:
            axes[2].text(0.5, 0.5, "no latent\n(classical codec)", ha="center", va="center",
                         transform=axes[2].transAxes)
        axes[3].imshow(view.error, cmap="magma", vmin=0, vmax=ERROR_SCALE)
        axes[3].set_title(f"|error| (0 to {ERROR_SCALE:g})")
        for ax in axes:
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)

        est = "n/a" if view.estimated_bpp is None else f"{view.estimated_bpp:.4f}"
        lines = [f"measured  {view.measured_bpp:.4f} bpp", f"estimated {est} bpp", f"PSNR {view.psnr:.2f} dB",
                 f"MS-SSIM {view.ms_ssim:.4f}", f"top-1 agrees: {'yes' if view.agreement else 'no'}",
                 f"explanation: {view.method}"]
        columns = [("\n".join(lines), "numbers")]
        for title, p in (("original: top-5", view.original), ("decoded: top-5", view.decoded)):
            columns.append(("\n".join(f"{lab[:22]} {pr:.3f}" for lab, pr in zip(p.labels, p.probabilities)), title))
        spans = [grid[1, 0], grid[1, 1:3], grid[1, 3]]
        for (body, title), span in zip(columns, spans):
            ax = fig.add_subplot(span)
            ax.axis("off")
            ax.set_title(title, loc="left")
            ax.text(0, 1, body, va="top", family="monospace", fontsize=6, transform=ax.transAxes)

        if learned:
            bars = fig.add_subplot(grid[2, :])
            m = len(view.channel_bits)
            kept = np.ones(m, dtype=bool) if view.kept is None else np.isin(np.arange(m), view.kept)
            bars.bar(np.arange(m), np.asarray(view.channel_bits), color=np.where(kept, "#4c72b0", "#c8c8c8"),
                     width=1.0)
            bars.set_xlim(-0.5, m - 0.5)
            bars.set_xlabel("latent channel")
            bars.set_ylabel("bits")
            bars.set_title("bits per latent channel (grey: not sent); dots: importance", loc="left")
            if view.machine is not None:
                twin = bars.twinx()
                for values, color, name in ((view.machine, "#dd8452", "machine"), (view.human, "#55a868", "human")):
                    v = np.asarray(values, dtype=float)
                    peak = float(np.abs(v).max()) or 1.0
                    twin.plot(np.arange(m), v / peak, ".", color=color, markersize=2, label=name)
                twin.set_ylim(-1.1, 1.1)
                twin.set_ylabel("importance / max")
                twin.grid(False)
                twin.legend(loc="upper right", frameon=False, ncol=2)
    return fig
