"""Images for the browser: arrays to PNG bytes, maps through fixed colour scales.

Everything here is numpy + Pillow: colour maps are 256-entry lookup tables taken once
from matplotlib.
"""

from __future__ import annotations

import io
from functools import lru_cache
from typing import Optional

import numpy as np


@lru_cache(maxsize=8)
def _lut(name: str) -> np.ndarray:
    """(256, 4) uint8 RGBA lookup table of a matplotlib colour map."""
    import matplotlib

    return (matplotlib.colormaps[name](np.linspace(0.0, 1.0, 256)) * 255).round().astype(np.uint8)


@lru_cache(maxsize=8)
def _lut3(name: str) -> np.ndarray:
    return np.ascontiguousarray(_lut(name)[:, :3])


def png(array: np.ndarray, level: int = 1) -> bytes:
    """(H, W, 3|4) or (H, W) uint8 array -> PNG bytes, lossless; zlib ``level`` 0 (stored: fastest,
    largest) to 9. The explorer uses 1 for ladder views and 0 for live channel-budget views."""
    from PIL import Image

    if array.dtype != np.uint8:
        raise ValueError(f"png() takes uint8 arrays, got {array.dtype}")
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buf, format="PNG", compress_level=level)
    return buf.getvalue()


def colorize(values: np.ndarray, vmin: float, vmax: float, cmap: str = "magma") -> np.ndarray:
    """(H, W) floats -> (H, W, 3) uint8 through ``cmap`` on the fixed range [vmin, vmax] (clipped)."""
    if not vmax > vmin:
        raise ValueError("vmax must be above vmin")
    v = np.nan_to_num(np.asarray(values, dtype=np.float32), nan=vmin)
    idx = np.clip((v - vmin) * (255.0 / (vmax - vmin)), 0, 255).astype(np.uint8)
    return np.take(_lut3(cmap), idx, axis=0)


def overlay(values: np.ndarray, max_side: Optional[int] = 256, cmap: str = "RdBu_r") -> Optional[np.ndarray]:
    """Signed map -> (h, w, 4) uint8 RGBA to lay over the image: colour from a diverging map
    centred on 0, opacity growing with |value|; scaled by max |value| (only the shape is shown).
    Reduced to ``max_side`` (the browser scales it back smoothly). None for an all-zero map."""
    v = np.nan_to_num(np.asarray(values, dtype=np.float32))
    peak = float(np.abs(v).max()) if v.size else 0.0
    if peak == 0.0:
        return None
    if max_side is not None and max(v.shape) > max_side:
        step = int(np.ceil(max(v.shape) / max_side))
        h, w = (v.shape[0] // step) * step, (v.shape[1] // step) * step
        v = v[:h, :w].reshape(h // step, step, w // step, step).mean(axis=(1, 3))
    rel = v / peak  # in [-1, 1]
    rgba = _lut(cmap)[np.clip((rel + 1.0) * 127.5, 0, 255).astype(np.uint8)].copy()
    rgba[..., 3] = np.clip(np.abs(rel) * 230.0, 0, 255).astype(np.uint8)
    return rgba
