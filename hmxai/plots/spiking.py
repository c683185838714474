"""Bits versus spikes in one figure: rate against spikes, firing rates per layer, where the bits
and the spikes go, and a spike raster."""

from __future__ import annotations

import numpy as np

from hmxai.plots import TWO_COLUMN, paper_style
from hmxai.types.spiking import BitsVsSpikes


def _bit_map(rung):
    """Latent bits per latent cell (1, h, w) summed over channels, or None (classical codec)."""
    import torch

    if rung.latent is None:
        return None
    return (-torch.log2(rung.latent.y_likelihoods[0].double())).sum(0)


def plot_bits_vs_spikes(result: BitsVsSpikes, row: int = 1, width: float = TWO_COLUMN):
    """Figure of ``result`` (:func:`hmxai.spiking.bits.bits_vs_spikes`); ``row`` (1..R) is the rung
    shown in the maps and the raster. Returns the Figure (never shows it).

    Top: spikes per image and SNN/ANN energy against measured bpp (agreeing rungs filled);
    firing rate of every layer, one line per rung. Bottom: the rung's decoded image, its latent
    bits per cell (learned codecs), its spikes per input-pixel cell (all layers), and the raster.
    """
    import matplotlib.pyplot as plt

    from hmxai.images import to_uint8

    ladder, reports = result.ladder, result.reports
    if not 1 <= row < len(ladder):
        from hmxai.errors import InvalidArgumentError

        raise InvalidArgumentError(f"row must be a decoded rung, 1..{len(ladder) - 1}")
    with paper_style():
        fig = plt.figure(figsize=(width, width * 0.62))
        grid = fig.add_gridspec(2, 12, height_ratios=[1.0, 1.0], hspace=0.6, wspace=4.5)
        ax = fig.add_subplot(grid[0, :4])
        bpp = np.array(ladder.measured_bpp)
        spikes = np.array([r.spikes for r in reports[1:]])
        agree = np.array([result.agreement(i) for i in range(1, len(ladder))])
        ax.plot(bpp, spikes, "-", color="C0")
        ax.scatter(bpp[agree], spikes[agree], color="C0", zorder=3, label="top-1 kept")
        ax.scatter(bpp[~agree], spikes[~agree], facecolor="white", edgecolor="C0", zorder=3, label="top-1 changed")
        ax.axhline(reports[0].spikes, color="0.5", lw=0.8, ls="--", label="original")
        ax.set_xlabel("measured bpp")
        ax.set_ylabel("spikes per image")
        ax.ticklabel_format(axis="y", style="sci", scilimits=(0, 0), useOffset=False)
        ax.legend(fontsize=6, loc="best")
        ax.set_title(f"{ladder.task}, T={reports[0].steps}", fontsize=7)
        ax = fig.add_subplot(grid[0, 4:8])
        ax.plot(bpp, [r.energy_ratio for r in reports[1:]], "o-", color="C3", ms=3)
        ax.axhline(reports[0].energy_ratio, color="0.5", lw=0.8, ls="--")
        ax.axhline(1.0, color="k", lw=0.6)
        ax.set_xlabel("measured bpp")
        ax.set_ylabel(f"SNN / ANN energy ({reports[0].precision})")

        ax = fig.add_subplot(grid[0, 8:])
        names = [lc.name for lc in reports[0].layers if lc.firing_rate is not None]
        cmap = plt.get_cmap("viridis")
        for i, rep in enumerate(reports):
            rates = [lc.firing_rate for lc in rep.layers if lc.firing_rate is not None]
            label = ladder.row_label(i)
            ax.plot(rates, color="k" if i == 0 else cmap((i - 1) / max(1, len(reports) - 2)), lw=0.9,
                    label=label if i in (0, 1, len(reports) - 1) else None)
        ax.set_xticks([0, len(names) - 1])
        ax.set_xticklabels([names[0], names[-1]], fontsize=6)
        ax.set_xlabel("layer (input to output)")
        ax.set_ylabel("spikes / neuron / step")
        ax.legend(fontsize=6)

        rung = ladder.rungs[row - 1] if ladder.rungs else None
        ax = fig.add_subplot(grid[1, 0:3])
        ax.imshow(to_uint8(ladder.images[row : row + 1]))
        ax.set_title(ladder.row_label(row) + f"\n{ladder.measured_bpp[row - 1]:.3f} bpp", fontsize=7)
        ax.axis("off")
        ax = fig.add_subplot(grid[1, 3:6])
        bits = None if rung is None else _bit_map(rung)
        if bits is None:
            ax.text(0.5, 0.5, "no latent\n(classical codec)", ha="center", va="center", fontsize=7)
        else:
            ax.imshow(bits.numpy(), cmap="viridis")
            ax.set_title("latent bits per cell", fontsize=7)
        ax.axis("off")
        ax = fig.add_subplot(grid[1, 6:9])
        spike_map = reports[row].spike_map
        if spike_map is not None:
            ax.imshow(spike_map.numpy(), cmap="magma")
            ax.set_title("spikes per cell\n(network input crop)", fontsize=7)
        ax.axis("off")
        ax = fig.add_subplot(grid[1, 9:])
        if result.raster:
            r = result.raster[row].float().numpy()
            ax.imshow(np.abs(r.T), aspect="auto", cmap="Greys", interpolation="nearest")
            bounds = [i for i in range(1, len(result.raster_layers))
                      if result.raster_layers[i] != result.raster_layers[i - 1]]
            for b in bounds:
                ax.axhline(b - 0.5, color="C1", lw=0.2)
            ax.set_xlabel("time step")
            ax.set_ylabel("neurons (by layer)")
            ax.set_title("spike raster", fontsize=7)
        else:
            ax.axis("off")
    return fig
