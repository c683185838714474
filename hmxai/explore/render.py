"""Images for the browser: arrays to PNG bytes, maps through fixed colour scales.

Everything here is numpy + Pillow: colour maps are 256-entry lookup tables taken once
from matplotlib.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

import numpy as np

from hmxai.errors import InvalidArgumentError


@lru_cache(maxsize=8)
def _lut(name: str) -> np.ndarray:
    """(256, 4) uint8 RGBA lookup table of a matplotlib colour map."""
    import matplotlib

    return (matplotlib.colormaps[name](np.linspace(0.0, 1.0, 256)) * 255).round().astype(np.uint8)


@lru_cache(maxsize=8)
def _lut3(name: str) -> np.ndarray:
    return np.ascontiguousarray(_lut(name)[:, :3])


def png(array: np.ndarray, level: int = 1) -> bytes:
    """(H, W), (H, W, 3) or (H, W, 4) uint8 array -> PNG bytes (grey, RGB or RGBA), lossless.

    Written directly (rows with PNG filter 0, one zlib stream at ``level`` 0-9): about 10x faster
    than Pillow's encoder, which tries every row filter. The explorer uses level 1 for ladder views
    and 0 (stored) for live channel-budget views.
    """
    import struct
    import zlib

    a = np.asarray(array)
    if a.dtype != np.uint8:
        raise InvalidArgumentError(f"png() takes uint8 arrays, got {a.dtype}")
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4) or 0 in a.shape[:2]:
        raise InvalidArgumentError(f"png() takes (H, W), (H, W, 3) or (H, W, 4) arrays, got {array.shape}")
    h, w, c = a.shape
    rows = np.empty((h, 1 + w * c), dtype=np.uint8)
    rows[:, 0] = 0  # filter type 0 (none) on every row
    rows[:, 1:] = a.reshape(h, w * c)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    color = {1: 0, 3: 2, 4: 6}[c]
    header = struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows.tobytes(), level))
            + chunk(b"IEND", b""))


def colorize(values: np.ndarray, vmin: float, vmax: float, cmap: str = "magma") -> np.ndarray:
    """(H, W) floats -> (H, W, 3) uint8 through ``cmap`` on the fixed range [vmin, vmax] (clipped)."""
    if not vmax > vmin:
        raise InvalidArgumentError("vmax must be above vmin")
    v = np.nan_to_num(np.asarray(values, dtype=np.float32), nan=vmin)
    idx = np.clip((v - vmin) * (255.0 / (vmax - vmin)), 0, 255).astype(np.uint8)
    return np.take(_lut3(cmap), idx, axis=0)


#: the overlay's drawing scale: values are divided by this percentile of |map| over the pixels the
#: network saw, then clipped to [-1, 1] (a few extreme pixels do not wash the rest out)
OVERLAY_PERCENTILE = 99.0
#: overlay opacity (before the front-end's opacity slider): ``floor + span * |rel| ** 0.8``
OVERLAY_ALPHA = (0.40, 0.50)


def overlay(values: np.ndarray, max_side: Optional[int] = 256) -> Optional[np.ndarray]:
    """Signed map -> (h, w, 4) uint8 RGBA to lay over the image (for drawing only; the map stays raw).

    ``rel = clip(v / p99(|v|), -1, 1)``. Positive evidence goes from dark purple to bright yellow
    (matplotlib's ``inferno``, 0.12 to 1), negative toward deep blue (``viridis`` 0.45 to 0);
    opacity ``0.40 + 0.50 * |rel| ** 0.8``, so the rest of the image is dimmed and what the model
    used stands out on any image. Pixels the network never saw (outside its centre crop: exactly 0)
    are left clear. Reduced to ``max_side`` (the browser scales it back smoothly). None for an
    all-zero map.
    """
    v = np.nan_to_num(np.asarray(values, dtype=np.float32))
    if max_side is not None and v.size and max(v.shape) > max_side:
        step = int(np.ceil(max(v.shape) / max_side))
        h, w = (v.shape[0] // step) * step, (v.shape[1] // step) * step
        v = v[:h, :w].reshape(h // step, step, w // step, step).mean(axis=(1, 3))
    magnitude = np.abs(v)
    seen = magnitude > 0
    if not seen.any():
        return None
    scale = float(np.percentile(magnitude[seen], OVERLAY_PERCENTILE)) or float(magnitude.max())
    rel = np.clip(v / scale, -1.0, 1.0)
    t = np.abs(rel)
    positive = _lut("inferno")[np.clip((0.12 + 0.88 * t) * 255, 0, 255).astype(np.uint8)]
    negative = _lut("viridis")[np.clip((0.45 - 0.45 * t) * 255, 0, 255).astype(np.uint8)]
    rgba = np.where((rel < 0)[..., None], negative, positive)
    floor, span = OVERLAY_ALPHA
    rgba[..., 3] = np.where(seen, np.clip((floor + span * t ** 0.8) * 255, 0, 255), 0).astype(np.uint8)
    return np.ascontiguousarray(rgba)


@dataclass(frozen=True)
class ViewImages:
    """The PNG bytes the front-end shows for one :class:`~hmxai.types.explorer.ExplorerView`.

    ``bitmap`` has one pixel per latent cell (``bitmap_cell`` image pixels a side), which the
    browser scales up; ``bitmap`` and ``bitmap_cell`` are None for classical codecs, ``overlay``
    is None when the view has no explanation (or an all-zero one).
    """

    decoded: bytes
    error: bytes
    bitmap: Optional[bytes]
    overlay: Optional[bytes]
    bitmap_cell: Optional[int]

    @property
    def nbytes(self) -> int:
        return sum(len(b) for b in (self.decoded, self.error, self.bitmap, self.overlay) if b is not None)


def render_view(view) -> ViewImages:
    """Render ``view``'s arrays through the fixed colour scales (:mod:`hmxai.scales`).

    Ladder views (all channels sent) are compressed at zlib level 1; live channel-budget views
    at level 0 (stored: no zlib time, larger PNGs).
    """
    from hmxai.scales import BITS_SCALE, ERROR_SCALE

    level = 1 if view.kept is None else 0
    bitmap = None
    if view.bitmap is not None:
        cell = view.bitmap_cell
        cells = view.bitmap[::cell, ::cell]  # the bit map is constant over each cell
        bitmap = png(colorize(cells, 0.0, BITS_SCALE, "viridis"), level)
    ov = None if view.explanation is None else overlay(view.explanation)
    return ViewImages(decoded=png(view.decoded_image, level),
                      error=png(colorize(view.error, 0.0, ERROR_SCALE, "magma"), level),
                      bitmap=bitmap, overlay=None if ov is None else png(ov, level),
                      bitmap_cell=view.bitmap_cell)
