"""Image input: anything image-like to a ``(1, 3, H, W)`` float tensor in [0, 1].

Conversion rules (applied in this order):

* **paths** and the **bytes** of an image file are opened with Pillow (HEIF/AVIF too); the
  pixel limit is checked *before* the pixels are decoded;
* **grayscale** (L, 1, 16-bit I;16/I) is replicated to three channels;
* **alpha** (RGBA, LA, palette with transparency) is composited over a
  **white** background, the way a viewer shows it on a page;
* **palette** and other colour modes (CMYK, YCbCr, LAB, HSV) go through
  Pillow's ``convert("RGB")``;
* **integer** data is divided by its type's maximum: 8-bit by 255, 16-bit
  by 65535 (so 16-bit images keep their full precision until the codec);
* **float** data must already lie in [0, 1]; NaN or infinite values, or values
  outside [0, 1], are an error (we never clip silently);
* arrays are ``(H, W)``, ``(H, W, C)``; tensors are ``(H, W)``, ``(C, H, W)``
  or ``(1, C, H, W)``, with C in {1, 3, 4}.

Limits: each side at least :data:`MIN_SIDE` pixels, at most
:data:`DEFAULT_MAX_PIXELS` pixels in all (raise it with ``max_pixels=`` or
the ``HMXAI_MAX_PIXELS`` environment variable).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from hmxai.errors import InvalidImageError

#: Default largest image, in pixels (40 megapixels: about a 7700x5200 photo).
DEFAULT_MAX_PIXELS = 40_000_000
#: Smallest side accepted, in pixels (MS-SSIM and every codec work from here up).
MIN_SIDE = 16

ImageLike = Union[str, os.PathLike, bytes, "PIL.Image.Image", np.ndarray, Tensor]  # noqa: F821


def max_pixels_default() -> int:
    """The pixel limit in force: ``HMXAI_MAX_PIXELS`` if set, else the default."""
    value = os.environ.get("HMXAI_MAX_PIXELS")
    if value is None:
        return DEFAULT_MAX_PIXELS
    try:
        return int(value)
    except ValueError as exc:
        raise InvalidImageError(f"HMXAI_MAX_PIXELS must be an integer, got {value!r}") from exc


def _check_size(h: int, w: int, max_pixels: int, what: str) -> None:
    if h == 0 or w == 0:
        raise InvalidImageError(f"{what} is empty ({h}x{w} pixels)")
    if h < MIN_SIDE or w < MIN_SIDE:
        raise InvalidImageError(
            f"{what} is {w}x{h} pixels; each side must be at least {MIN_SIDE} pixels"
        )
    if h * w > max_pixels:
        raise InvalidImageError(
            f"{what} is {w}x{h} = {h * w:,} pixels, over the limit of {max_pixels:,}; "
            "pass max_pixels=... (CLI: --max-pixels) or set HMXAI_MAX_PIXELS to raise it"
        )


def _flatten_alpha(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Composite float RGB (H, W, 3) with alpha (H, W) in [0, 1] over white."""
    a = alpha[..., None]
    return rgb * a + (1.0 - a)


def _from_pil(img, max_pixels: int, what: str) -> np.ndarray:
    from PIL import Image

    w, h = img.size
    _check_size(h, w, max_pixels, what)
    mode = img.mode
    try:
        if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
            arr = np.asarray(img.convert("I") if mode != "I" else img, dtype=np.float64)
            if arr.min() < 0 or arr.max() > 65535:
                raise InvalidImageError(f"{what}: 32-bit integer pixels outside 0..65535")
            gray = arr / 65535.0
            return np.repeat(gray[..., None], 3, axis=2)
        if mode == "F":
            gray = np.asarray(img, dtype=np.float64)
            return np.repeat(_check_float(gray, what)[..., None], 3, axis=2)
        if mode == "P":
            img = img.convert("RGBA" if "transparency" in img.info else "RGB")
            mode = img.mode
        if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
            rgba = np.asarray(img.convert("RGBA"), dtype=np.float64) / 255.0
            return _flatten_alpha(rgba[..., :3], rgba[..., 3])
        if mode in ("1", "L"):
            gray = np.asarray(img.convert("L"), dtype=np.float64) / 255.0
            return np.repeat(gray[..., None], 3, axis=2)
        return np.asarray(img.convert("RGB"), dtype=np.float64) / 255.0
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        if isinstance(exc, InvalidImageError):
            raise
        raise InvalidImageError(f"{what} could not be decoded: {exc}") from exc


def _check_float(arr: np.ndarray, what: str) -> np.ndarray:
    if not np.all(np.isfinite(arr)):
        n = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise InvalidImageError(f"{what} contains {n} NaN or infinite values")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < 0.0 or hi > 1.0:
        raise InvalidImageError(
            f"{what}: float pixels must lie in [0, 1], got [{lo:.4g}, {hi:.4g}]; "
            "divide 8-bit data by 255 (or pass it as uint8)"
        )
    return arr


def _from_array(arr: np.ndarray, max_pixels: int, what: str) -> np.ndarray:
    """(H, W) or (H, W, C) array of any supported dtype to float64 (H, W, 3)."""
    if arr.size == 0:
        raise InvalidImageError(f"{what} is empty (shape {arr.shape})")
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise InvalidImageError(
            f"{what} has shape {arr.shape}; expected (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)"
        )
    _check_size(arr.shape[0], arr.shape[1], max_pixels, what)
    if arr.dtype == np.bool_:
        data = arr.astype(np.float64)
    elif arr.dtype == np.uint8:
        data = arr.astype(np.float64) / 255.0
    elif arr.dtype == np.uint16:
        data = arr.astype(np.float64) / 65535.0
    elif np.issubdtype(arr.dtype, np.floating):
        data = _check_float(arr.astype(np.float64), what)
    else:
        raise InvalidImageError(
            f"{what} has dtype {arr.dtype}; use uint8, uint16, bool or float in [0, 1]"
        )
    if data.shape[2] == 1:
        return np.repeat(data, 3, axis=2)
    if data.shape[2] == 4:
        return _flatten_alpha(data[..., :3], data[..., 3])
    return data


def _from_tensor(t: Tensor, max_pixels: int, what: str) -> np.ndarray:
    t = t.detach().cpu()
    if t.ndim == 4:
        if t.shape[0] != 1:
            raise InvalidImageError(
                f"{what} is a batch of {t.shape[0]} images; load images one at a time"
            )
        t = t[0]
    if t.ndim == 3:
        if t.shape[0] not in (1, 3, 4):
            raise InvalidImageError(
                f"{what} has shape {tuple(t.shape)}; expected (C, H, W) with C in 1, 3, 4"
            )
        t = t.permute(1, 2, 0)
    elif t.ndim != 2:
        raise InvalidImageError(f"{what} has {t.ndim} dimensions; expected 2, 3 or 4")
    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.float()
    return _from_array(t.numpy(), max_pixels, what)


def load_image(source: ImageLike, *, max_pixels: int | None = None) -> Tensor:
    """Read an image from a path, an encoded file's bytes, a PIL image, ndarray or tensor.

    Args:
        source: see the module docstring for accepted types and rules.
        max_pixels: largest accepted image; default :func:`max_pixels_default`.

    Returns:
        x: (1, 3, H, W) float32 in [0, 1].

    Raises:
        InvalidImageError: unreadable, empty, too small or too large, NaN,
            out-of-range floats, or an unsupported shape or dtype.
    """
    from PIL import Image

    limit = max_pixels_default() if max_pixels is None else int(max_pixels)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        what = f"image {str(path)!r}"
        if not path.is_file():
            raise InvalidImageError(f"{what} does not exist or is not a file")
        data = _from_file(path, limit, what)
    elif isinstance(source, (bytes, bytearray, memoryview)):
        import io

        data = _from_file(io.BytesIO(bytes(source)), limit, f"image of {len(source)} bytes")
    elif isinstance(source, Image.Image):
        data = _from_pil(source, limit, "PIL image")
    elif isinstance(source, np.ndarray):
        data = _from_array(source, limit, "array")
    elif isinstance(source, Tensor):
        data = _from_tensor(source, limit, "tensor")
    else:
        raise InvalidImageError(
            f"cannot read an image from {type(source).__name__}; "
            "pass a path, the bytes of an image file, a PIL image, numpy array or torch tensor"
        )
    x = torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32)).permute(2, 0, 1)
    return x.unsqueeze(0).contiguous()


def _from_file(file, limit: int, what: str) -> np.ndarray:
    """Pixels of an encoded image file (a path or a file object); size checked before decoding."""
    from PIL import Image

    _register_heif()
    try:
        with Image.open(file) as img:
            w, h = img.size
            _check_size(h, w, limit, what)  # before the pixels are decoded
            img.load()
            return _from_pil(img, limit, what)
    except InvalidImageError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        import re

        reason = re.sub(r"<_io\.BytesIO object at 0x[0-9a-fA-F]+>", "these bytes", str(exc))  # no addresses
        raise InvalidImageError(f"{what} is not a readable image: {reason}") from exc


def _register_heif() -> None:
    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
    except ImportError:  # HEIF input is optional; other formats still work
        pass


def check_batch(x: Tensor, what: str = "x") -> None:
    """Raise unless ``x`` is a finite (B, 3, H, W) float tensor in [0, 1]."""
    if not isinstance(x, Tensor):
        raise InvalidImageError(f"{what} must be a tensor; use hmxai.load_image() first")
    if x.ndim != 4 or x.shape[1] != 3:
        raise InvalidImageError(f"{what} must have shape (B, 3, H, W), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise InvalidImageError(f"{what} must be float in [0, 1], got {x.dtype}")
    if not torch.isfinite(x).all():
        raise InvalidImageError(f"{what} contains NaN or infinite values")
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise InvalidImageError(f"{what} must lie in [0, 1]")
    if x.shape[2] < MIN_SIDE or x.shape[3] < MIN_SIDE:
        raise InvalidImageError(f"{what} sides must be at least {MIN_SIDE} pixels")


def pad_to_multiple(x: Tensor, multiple: int) -> Tuple[Tensor, Tuple[int, int]]:
    """Pad right and bottom, replicating edge pixels, to a multiple of ``multiple``.

    Replication (not zeros) keeps the padded border cheap to code and free of
    an artificial edge. Returns the padded tensor and the original (H, W);
    undo with :func:`crop_to`.
    """
    h, w = x.shape[-2:]
    ph = (multiple - h % multiple) % multiple
    pw = (multiple - w % multiple) % multiple
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    return x, (h, w)


def crop_to(x: Tensor, size: Tuple[int, int]) -> Tensor:
    """Crop (..., H', W') back to the top-left (H, W)."""
    return x[..., : size[0], : size[1]]


def fit_within(x: Tensor, max_side: int | None) -> Tensor:
    """Resize ``x: (B, 3, H, W)`` (bilinear, antialiased) so that its longer side is at most
    ``max_side`` pixels, keeping the aspect ratio; unchanged if it already fits or ``max_side`` is None."""
    import torch.nn.functional as F

    if not max_side or max(x.shape[-2:]) <= max_side:
        return x
    s = max_side / max(x.shape[-2:])
    size = (max(1, round(x.shape[-2] * s)), max(1, round(x.shape[-1] * s)))
    return F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)


def to_uint8(x: Tensor) -> np.ndarray:
    """(1, 3, H, W) in [0, 1] to an (H, W, 3) uint8 array (round half to even)."""
    return (x[0].clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0).numpy()


def to_pil(x: Tensor):
    """(1, 3, H, W) in [0, 1] to a PIL RGB image."""
    from PIL import Image

    return Image.fromarray(to_uint8(x), "RGB")
