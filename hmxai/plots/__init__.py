"""Matplotlib figures. Every function returns its Figure/Axes; none of them shows a window.

Publication defaults (:func:`paper_style`), one style for every hmxai figure: one-column width
(3.5 in) or two-column (7.16 in), 8-pt fonts, the Okabe-Ito colour-blind-safe palette, TrueType
fonts embedded in PDF (Type 42) and glyphs as paths in SVG, vector output.
:func:`save_figure` writes PDF, SVG and PNG without dates or random ids, so the same figure
drawn from the same results is byte-identical on any day.
"""

from __future__ import annotations

from contextlib import contextmanager

#: one-column and two-column widths of IEEE/ACM-style papers, in inches
ONE_COLUMN, TWO_COLUMN = 3.5, 7.16

#: Okabe & Ito's colour-blind-safe palette (black last: the anchor's colour)
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
ANCHOR_COLOUR = "#000000"

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
    "svg.fonttype": "path",
    "svg.hashsalt": "hmxai",
    "savefig.bbox": "tight",
    "savefig.dpi": 300,
}


@contextmanager
def paper_style():
    """Temporarily apply :data:`PAPER_RC` (restored on exit)."""
    import matplotlib
    from cycler import cycler

    with matplotlib.rc_context({**PAPER_RC, "axes.prop_cycle": cycler(color=OKABE_ITO[:-1])}):
        yield


#: the widths :func:`save_figure` and the grid figures accept by name
WIDTHS = {"one-column": ONE_COLUMN, "two-column": TWO_COLUMN}


#: per format, the metadata that would otherwise carry the date and time of saving
STABLE_METADATA = {"pdf": {"CreationDate": None, "ModDate": None}, "svg": {"Date": None}, "png": {}}


def save_as(fig, path, dpi: int = 300, close: bool = False) -> str:
    """Write ``fig`` to one file, its format from the extension (the same style and stable metadata
    as :func:`save_figure`); returns the path. ``close``: close the figure afterwards, also on an error."""
    from pathlib import Path

    path = Path(path)
    ext = path.suffix.lower().lstrip(".")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with paper_style():
            fig.savefig(path, dpi=dpi, bbox_inches="tight", metadata=STABLE_METADATA.get(ext, {}))
    finally:
        if close:
            import matplotlib.pyplot as plt

            plt.close(fig)
    return str(path)


def save_figure(fig, stem, formats=("pdf", "svg", "png"), dpi: int = 300) -> list:
    """Write ``fig`` as ``stem.pdf``, ``stem.svg``, ``stem.png`` (fonts embedded, tight box, no dates:
    byte-identical for the same figure); returns the paths."""
    from pathlib import Path

    stem = Path(stem)
    return [save_as(fig, stem.with_name(f"{stem.name}.{ext}"), dpi) for ext in formats]
