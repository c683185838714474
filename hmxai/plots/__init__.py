"""Matplotlib figures. Every function returns its Figure/Axes; none of them shows a window.

Publication defaults (:func:`paper_style`): one-column width (3.5 in),
8-pt fonts, TrueType fonts embedded in PDF (Type 42), vector output.
"""

from __future__ import annotations

from contextlib import contextmanager

#: one-column and two-column widths of IEEE/ACM-style papers, in inches
ONE_COLUMN, TWO_COLUMN = 3.5, 7.16

PAPER_RC = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "lines.linewidth": 1.2,
    "lines.markersize": 3.5,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.fonttype": "none",
    "savefig.bbox": "tight",
    "savefig.dpi": 300,
}


@contextmanager
def paper_style():
    """Temporarily apply :data:`PAPER_RC` (restored on exit)."""
    import matplotlib

    with matplotlib.rc_context(PAPER_RC):
        yield


#: the widths :func:`save_figure` and the grid figures accept by name
WIDTHS = {"one-column": ONE_COLUMN, "two-column": TWO_COLUMN}


def save_figure(fig, stem, formats=("pdf", "svg", "png"), dpi: int = 300) -> list:
    """Write ``fig`` as ``stem.pdf``, ``stem.svg``, ``stem.png`` (fonts embedded, tight box); returns the paths."""
    from pathlib import Path

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in formats:
        path = stem.with_name(f"{stem.name}.{ext}")
        with paper_style():
            fig.savefig(path, dpi=dpi, bbox_inches="tight")
        paths.append(str(path))
    return paths
