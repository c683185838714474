"""The two custom views of the explorer, thin anywidget classes over ``widgets/explorer.js``.

Images and arrays are ``Bytes`` traits, which ipywidgets sends as binary buffers (PNG bytes,
little-endian float32/int32/uint8 arrays), never base64 inside JSON.
"""

from __future__ import annotations

import anywidget
import numpy as np
import traitlets

from hmxai.ui.assets import asset


class _Base(anywidget.AnyWidget):
    _esm = asset("explorer.js")
    _css = asset("explorer.css")


class ViewPanel(_Base):
    """Original, decoded (+ explanation overlay), bit map and error map, the numbers, the top-5."""

    view = traitlets.Unicode("panel").tag(sync=True)
    original = traitlets.Bytes(b"").tag(sync=True)
    decoded = traitlets.Bytes(b"").tag(sync=True)
    overlay = traitlets.Bytes(b"").tag(sync=True)
    bitmap = traitlets.Bytes(b"").tag(sync=True)
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


def f32(values) -> bytes:
    """Little-endian float32 bytes of a sequence (empty for None)."""
    return b"" if values is None else np.asarray(values, dtype="<f4").tobytes()


def i32(values) -> bytes:
    return b"" if values is None else np.asarray(values, dtype="<i4").tobytes()


def u8(values) -> bytes:
    return b"" if values is None else np.asarray(values, dtype=np.uint8).tobytes()
