"""Interactive explorer widgets (ipywidgets 8 + anywidget); the front-end lives in ``widgets/``.

>>> from hmxai.ui import RateExplorer
>>> RateExplorer("photo.png")          # in a notebook cell: sliders, linked views, export

UI code depends on the rest of hmxai, never the reverse; the compute is in :mod:`hmxai.explore`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RateExplorer", "ViewPanel", "ChannelBars"]


def __getattr__(name: str) -> Any:
    if name == "RateExplorer":
        from hmxai.ui.explorer import RateExplorer

        return RateExplorer
    if name in ("ViewPanel", "ChannelBars"):
        from hmxai.ui import widgets

        return getattr(widgets, name)
    raise AttributeError(f"module 'hmxai.ui' has no attribute {name!r}")
