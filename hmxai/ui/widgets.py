"""The two custom views of the explorer, thin anywidget classes over ``widgets/explorer.js``.

Images and arrays are ``Bytes`` traits, which ipywidgets sends as binary buffers (PNG bytes,
little-endian float32/int32/uint8 arrays), never base64 inside JSON.
"""

from __future__ import annotations

import os

import anywidget
import numpy as np
import traitlets

from hmxai.ui.assets import asset


def _source(name: str):
    """The front-end file's text. Given a path instead, anywidget connects every widget instance to a
    class-level file watcher with a strong reference, so no widget could ever be freed (each re-run
    cell would leak one); the path is used only for live reloading during development
    (``ANYWIDGET_HMR=1``)."""
    path = asset(name)
    return path if os.environ.get("ANYWIDGET_HMR") == "1" else path.read_text(encoding="utf-8")


class _Base(anywidget.AnyWidget):
    _esm = _source("explorer.js")
    _css = _source("explorer.css")


class ViewPanel(_Base):
    """Original, decoded (+ explanation overlay), bit map and error map, the numbers, the top-5."""

    view = traitlets.Unicode("panel").tag(sync=True)
    original = traitlets.Bytes(b"").tag(sync=True)
    decoded = traitlets.Bytes(b"").tag(sync=True)
    overlay = traitlets.Bytes(b"").tag(sync=True)
    bitmap = traitlets.Bytes(b"").tag(sync=True)
    bitmap_cell = traitlets.Int(0).tag(sync=True)
    error = traitlets.Bytes(b"").tag(sync=True)
    numbers = traitlets.Dict({}).tag(sync=True)
    scales = traitlets.Dict({}).tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)


class ChannelBars(_Base):
    """Bits, machine and human importance per latent channel, in sending order; click toggles.

    ``order``: int32 channel indices, first sent first; ``kept``: uint8 per channel (1 = sent).
    A click arrives as the message ``{"type": "toggle", "channel": c}``.
    """

    view = traitlets.Unicode("channels").tag(sync=True)
    bits = traitlets.Bytes(b"").tag(sync=True)
    machine = traitlets.Bytes(b"").tag(sync=True)
    human = traitlets.Bytes(b"").tag(sync=True)
    order = traitlets.Bytes(b"").tag(sync=True)
    kept = traitlets.Bytes(b"").tag(sync=True)
    ordering = traitlets.Unicode("").tag(sync=True)
    #: how the importance bars were computed, said under them (``method`` for tests and styling)
    scores = traitlets.Unicode("").tag(sync=True)
    method = traitlets.Unicode("").tag(sync=True)


def f32(values) -> bytes:
    """Little-endian float32 bytes of a sequence (empty for None)."""
    return b"" if values is None else np.asarray(values, dtype="<f4").tobytes()


def i32(values) -> bytes:
    return b"" if values is None else np.asarray(values, dtype="<i4").tobytes()


def u8(values) -> bytes:
    return b"" if values is None else np.asarray(values, dtype=np.uint8).tobytes()
