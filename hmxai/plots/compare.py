"""One figure of two codecs at the same rate (:func:`hmxai.explain.compare.compare_codecs`): which bits moved.

Rows 1-2, one per codec: the decoded image with the Grad-CAM of the original's top-1 class, the
bits per latent position, and every channel's bits against its machine importance (coloured by
budget class). Row 3: where the bits moved (second minus first), how Grad-CAM moved, and the bit
budget's machine/human fractions of both codecs.
"""

from __future__ import annotations

import numpy as np

from hmxai.plots import TWO_COLUMN, paper_style
from hmxai.scales import BUDGET_COLOURS
from hmxai.types.explain import BUDGET_CLASSES


def _sym(ax, data, cmap="RdBu_r", **kw):
    lim = float(np.nanmax(np.abs(data))) or 1.0
    return ax.imshow(data, cmap=cmap, vmin=-lim, vmax=lim, **kw)


def plot_codec_comparison(comparison):
    """The comparison's figure (returns the Figure; never shows a window)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    sides = comparison.sides
    with paper_style():
        fig, axes = plt.subplots(3, 3, figsize=(TWO_COLUMN, 6.4), gridspec_kw={"width_ratios": (1.2, 1.2, 1)})
        bits_max = max(float(s.maps.bits_y.max()) for s in sides) or 1.0
        for row, side in enumerate(sides):
            r, m = side.rung, side.rung.metrics
            img = r.x_hat[0].clamp(0, 1).permute(1, 2, 0).numpy()
            ax = axes[row, 0]
            ax.imshow(img)
            cam = side.cam.numpy()
            ax.imshow(cam / (np.abs(cam).max() or 1.0), cmap="RdBu_r", vmin=-1, vmax=1, alpha=0.45)
            mark = "agrees" if side.agrees else "disagrees"
            ax.set_title(f"{r.codec} q{r.quality:g}\n{m.measured_bpp:.3f} bpp, {m.psnr:.2f} dB\n"
                         f"{r.prediction.labels[0][:20]} ({mark})", fontsize=7)
            ax = axes[row, 1]
            h, w = r.image_size
            cell = side.maps.cell
            im = ax.imshow(side.maps.bits_y.numpy(), cmap="viridis", vmin=0, vmax=bits_max,
                           extent=(0, side.maps.bits_y.shape[1] * cell, side.maps.bits_y.shape[0] * cell, 0))
            ax.set_xlim(0, w)
            ax.set_ylim(h, 0)
            ax.set_title(f"bits per latent position ({float(side.scores.bits.sum()) / 1000:.1f} kbit)")
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
            ax = axes[row, 2]
            colours = [BUDGET_COLOURS[c] for c in side.budget.classes]
            ax.scatter(side.scores.bits.numpy(), side.scores.machine.numpy(), c=colours, s=6, linewidths=0)
            ax.axhline(0, color="0.6", lw=0.6)
            ax.set_xlabel("bits of the channel")
            ax.set_ylabel("machine: Δ target logit")
            ax.set_title("channels")
        for ax in axes[:2, :2].flat:
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
        ax = axes[2, 0]
        diff = comparison.bits_difference.numpy()
        cell = sides[0].maps.cell
        im = _sym(ax, diff, extent=(0, diff.shape[1] * cell, diff.shape[0] * cell, 0))
        h, w = sides[0].rung.image_size
        ax.set_xlim(0, w)
        ax.set_ylim(h, 0)
        ax.set_title(f"bits moved: {sides[1].rung.codec} − {sides[0].rung.codec}\n"
                     f"(rate {100 * comparison.rate_change:+.1f} %)")
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
        ax = axes[2, 1]
        im = _sym(ax, comparison.cam_difference.numpy())
        ax.set_title("Grad-CAM moved (each normalized)")
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
        for ax in axes[2, :2]:
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
        ax = axes[2, 2]
        xs = np.arange(len(BUDGET_CLASSES))
        for k, (side, hatch) in enumerate(zip(sides, ("", "//"))):
            fr = dict(side.budget.fractions.items())
            ax.bar(xs + (k - 0.5) * 0.38, [fr[c] for c in BUDGET_CLASSES], width=0.38,
                   color=[BUDGET_COLOURS[c] for c in BUDGET_CLASSES], hatch=hatch, edgecolor="0.2", linewidth=0.4)
        ax.set_xticks(xs)
        ax.set_xticklabels(BUDGET_CLASSES, rotation=30)
        ax.set_ylabel("fraction of latent bits")
        ax.set_title("bit budget")
        ax.legend(handles=[Patch(facecolor="white", edgecolor="0.2", hatch=h, label=s.rung.codec)
                           for s, h in zip(sides, ("", "//"))])
        fig.suptitle(f"Which bits moved, for '{comparison.target_label}' ({comparison.method})")
        fig.tight_layout()
    return fig
