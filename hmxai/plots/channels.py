"""Figures of the channel explanations; each returns its Figure (never shows a window).

* :func:`plot_channel_scores` — bits, machine and human importance per channel (three aligned bar rows);
* :func:`plot_bit_budget` — the image's latent bits split into both/machine/human/neither;
* :func:`plot_spatial` — bits per position, machine attribution, error map;
* :func:`plot_budget_curves` — rate vs agreement and rate vs PSNR per channel ordering;
* :func:`plot_deletion_insertion` — deletion and insertion curves with the random control.

Importances are drawn raw (signed); colour scales of signed maps are symmetric about 0.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from hmxai.errors import InvalidArgumentError
from hmxai.plots import ONE_COLUMN, TWO_COLUMN, paper_style

from hmxai.scales import BUDGET_COLOURS as CLASS_COLORS  # one table for every figure


def plot_channel_scores(scores, budget=None, sort_by: str = "bits", top: Optional[int] = None):
    """Three bar rows over the channels (sorted by ``bits``/``machine``/``human``), coloured by budget class."""
    import matplotlib.pyplot as plt

    keys = {"bits": scores.bits, "machine": scores.machine, "human": scores.human}
    if sort_by not in keys:
        raise InvalidArgumentError(f"sort_by must be one of {list(keys)}")
    order = np.argsort(-keys[sort_by].numpy(), kind="stable")
    if top is not None:
        order = order[:top]
    colors = [CLASS_COLORS[budget.classes[i]] for i in order] if budget is not None else "0.4"
    rows = [("bits", scores.bits, "bits"), ("machine", scores.machine, "Δ target logit"),
            ("human", scores.human, "Δ MSE")]
    with paper_style():
        fig, axes = plt.subplots(3, 1, figsize=(TWO_COLUMN, 3.6), sharex=True)
        for ax, (name, values, unit) in zip(axes, rows):
            ax.bar(np.arange(len(order)), values.numpy()[order], color=colors, width=0.85)
            ax.set_ylabel(f"{name}\n({unit})")
            ax.axhline(0, color="k", lw=0.5)
        axes[-1].set_xlabel(f"latent channel (sorted by {sort_by}; every 8th labelled)")
        axes[-1].set_xticks(np.arange(0, len(order), 8))
        axes[-1].set_xticklabels([str(i) for i in order[::8]], rotation=90)
        if budget is not None:
            from matplotlib.patches import Patch

            axes[0].legend(handles=[Patch(color=c, label=k) for k, c in CLASS_COLORS.items()], ncol=4,
                           loc="upper right", frameon=False)
        axes[0].set_title(f"{scores.codec} q{scores.quality}, {scores.task}, {scores.method} "
                          f"({scores.ablation}); target: {scores.target_label}")
        fig.align_ylabels(axes)
        fig.tight_layout()
    return fig


def plot_bit_budget(budget, ax=None):
    """One horizontal stacked bar: the fraction of latent bits per class, labelled with the percent."""
    import matplotlib.pyplot as plt

    with paper_style():
        if ax is None:
            fig, ax = plt.subplots(figsize=(ONE_COLUMN, 0.9))
        else:
            fig = ax.figure
        left = 0.0
        for name, frac in budget.fractions.items():
            ax.barh(0, frac, left=left, color=CLASS_COLORS[name], label=f"{name} ({100 * frac:.0f} %)")
            left += frac
        ax.set_xlim(0, 1)
        ax.set_yticks([])
        ax.set_xlabel("fraction of latent bits")
        ax.grid(False)
        ax.legend(ncol=4, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False, fontsize=6)
    return fig


def plot_spatial(maps, image=None):
    """Decoded image | bits per position | machine |attribution| per latent cell | squared error (99th-pct scale)."""
    import matplotlib.pyplot as plt

    h, w = maps.machine.shape
    with paper_style():
        fig, axes = plt.subplots(1, 4, figsize=(TWO_COLUMN, TWO_COLUMN / 4 * h / w + 0.5))
        axes[0].imshow(maps.x_hat[0].permute(1, 2, 0).clamp(0, 1).numpy())
        axes[0].set_title("decoded")
        bits = maps.bits_y.numpy()
        cell = maps.cell
        im = axes[1].imshow(bits, cmap="viridis", extent=(0, bits.shape[1] * cell, bits.shape[0] * cell, 0))
        axes[1].set_xlim(0, w)
        axes[1].set_ylim(h, 0)
        axes[1].set_title("bits per position")
        fig.colorbar(im, ax=axes[1], fraction=0.046, pad=0.02)
        grid = maps.machine_on_grid.numpy()
        im = axes[2].imshow(grid, cmap="inferno", extent=(0, grid.shape[1] * cell, grid.shape[0] * cell, 0))
        axes[2].set_xlim(0, w)
        axes[2].set_ylim(h, 0)
        axes[2].set_title(f"machine |attr.| ({maps.target_label[:14]})")
        fig.colorbar(im, ax=axes[2], fraction=0.046, pad=0.02)
        err = maps.error.numpy()
        im = axes[3].imshow(err, cmap="magma", vmin=0, vmax=float(np.percentile(err, 99)) or None)
        axes[3].set_title("squared error")
        fig.colorbar(im, ax=axes[3], fraction=0.046, pad=0.02)
        for ax in axes:
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
        fig.suptitle(f"bits vs machine: Spearman {maps.agreement:.2f}; bits vs error: {maps.error_agreement:.2f}",
                     fontsize=7, y=0.02, va="bottom")
    return fig


def plot_budget_curves(curves):
    """Rate vs top-1 agreement (and accuracy when labelled) | rate vs PSNR, one line per ordering."""
    import matplotlib.pyplot as plt

    with paper_style():
        fig, (a, b) = plt.subplots(1, 2, figsize=(TWO_COLUMN, 2.4))
        for c in curves.curves:
            style = dict(marker="o", ls="--" if c.ordering == curves.anchor else "-")
            a.plot(c.estimated_bpp, c.agreement, label=c.ordering, **style)
            b.plot(c.estimated_bpp, c.psnr, label=c.ordering, **style)
        a.set_xlabel("bpp (estimated, sent channels + side)")
        a.set_ylabel("top-1 agreement with original")
        b.set_xlabel("bpp (estimated, sent channels + side)")
        b.set_ylabel("PSNR (dB)")
        a.set_ylim(-0.02, 1.02)
        b.legend(frameon=False)
        fig.suptitle(f"{curves.codec} q{curves.quality}, {curves.task}, {curves.images} images, "
                     f"scores: {curves.method}", fontsize=8)
        fig.tight_layout()
    return fig


def plot_deletion_insertion(result, ax=None):
    """Deletion and insertion curves of an ordering and of the random control."""
    import matplotlib.pyplot as plt

    with paper_style():
        if ax is None:
            fig, ax = plt.subplots(figsize=(ONE_COLUMN, 2.2))
        else:
            fig = ax.figure
        f = result.fractions
        ax.plot(f, result.deletion, "-", color="C3", label=f"deletion (AUC {result.deletion_auc:.3g})")
        ax.plot(f, result.insertion, "-", color="C0", label=f"insertion (AUC {result.insertion_auc:.3g})")
        ax.plot(f, result.random_deletion, ":", color="C3", label="deletion, random order")
        ax.plot(f, result.random_insertion, ":", color="C0", label="insertion, random order")
        ax.set_xlabel("fraction of live channels removed / inserted")
        ax.set_ylabel("target probability" if result.objective == "machine" else "PSNR (dB)")
        ax.legend(frameon=False)
    return fig
