"""Which latent channels each machine uses: decode-then-classify against a machine that reads the latent."""

from __future__ import annotations


def plot_channel_use(decoded, latent, top: int = 24):
    """One figure from two :class:`~hmxai.types.ChannelScores` of the same image, codec and rate:
    ``decoded`` for the image task on the decoded image, ``latent`` for a latent task.

    Left: bits of the ``top`` channels richest in bits, with each machine's importance (the drop of
    its target logit when the channel is not transmitted, each scaled to its own largest
    magnitude). Right: the two machines' importances of every live channel against each other,
    with their Spearman correlation. Returns the matplotlib figure (never shown)."""
    import matplotlib.pyplot as plt
    import numpy as np

    from hmxai.errors import InvalidArgumentError
    from hmxai.explain.common import spearman

    if (decoded.codec, decoded.quality) != (latent.codec, latent.quality):
        raise InvalidArgumentError("the two channel scores must be of the same codec and quality")
    bits = decoded.bits.double().numpy()
    a = decoded.machine.double().numpy()
    b = latent.machine.double().numpy()
    live = (decoded.live & latent.live).numpy()
    order = np.argsort(-bits)[:top]
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [2.2, 1]})
    pos = np.arange(len(order))
    ax0.bar(pos, bits[order] / max(bits.max(), 1e-12), color="0.8", label="bits (scaled)")
    scale_a, scale_b = max(np.abs(a).max(), 1e-12), max(np.abs(b).max(), 1e-12)
    ax0.plot(pos, a[order] / scale_a, "o-", color="tab:blue", label=f"{decoded.task} on the decoded image")
    ax0.plot(pos, b[order] / scale_b, "s-", color="tab:red", label=f"{latent.task} on the latent")
    ax0.axhline(0, color="0.3", lw=0.6)
    ax0.set_xticks(pos, [str(i) for i in order], rotation=90, fontsize=7)
    ax0.set_xlabel("latent channel (most bits first)")
    ax0.set_ylabel("scaled to each series' largest")
    ax0.set_title(f"{decoded.codec} q{decoded.quality:g}: bits and what each machine loses without a channel")
    ax0.legend(fontsize=8, loc="upper right")
    rho = spearman(a[live], b[live]) if live.sum() > 2 else float("nan")
    ax1.scatter(a[live] / scale_a, b[live] / scale_b, s=12, c=bits[live], cmap="viridis")
    ax1.axhline(0, color="0.5", lw=0.5)
    ax1.axvline(0, color="0.5", lw=0.5)
    ax1.set_xlabel("decode-then-classify importance")
    ax1.set_ylabel("latent machine importance")
    ax1.set_title(f"{int(live.sum())} live channels, Spearman {rho:.2f}", fontsize=10)
    fig.tight_layout()
    return fig
