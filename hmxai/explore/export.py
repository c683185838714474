"""Write an explorer view to disk: the figure (PNG and PDF) and its numbers (JSON)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

from hmxai.types.explorer import ExplorerView


def export_stem(view: ExplorerView) -> str:
    """A file name that tells the state apart: codec, quality, channels sent, method."""
    channels = "" if view.num_channels is None else f"-{view.channels_kept}of{view.num_channels}ch"
    toggled = "" if view.kept is None else f"-{abs(hash(view.kept)) % 10**6:06d}"
    return f"explorer-{view.codec}-q{view.quality}{channels}{toggled}-{view.method}"


def export_view(view: ExplorerView, original, directory, stem: Optional[str] = None) -> List[str]:
    """Save ``view`` as ``STEM.png``, ``STEM.pdf`` (:func:`hmxai.plots.explorer.plot_view`) and
    ``STEM.json`` (:func:`hmxai.explore.engine.describe_state`) in ``directory``; returns the paths."""
    import matplotlib.pyplot as plt

    from hmxai.explore.engine import describe_state
    from hmxai.plots import save_figure
    from hmxai.plots.explorer import plot_view

    directory = Path(directory)
    stem = stem or export_stem(view)
    fig = plot_view(view, original)
    try:
        paths = save_figure(fig, directory / stem, formats=("png", "pdf"))
    finally:
        plt.close(fig)
    numbers = directory / f"{stem}.json"
    numbers.write_text(json.dumps(describe_state(view), indent=2) + "\n")
    return paths + [str(numbers)]
