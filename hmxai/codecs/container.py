"""``.hmx`` files to and from :class:`~hmxai.types.EncodedImage` (the format itself: :mod:`hmxai.container`)."""

from __future__ import annotations

from hmxai.container import MAGIC, VERSION, read, write  # noqa: F401  (the format's constants, re-exported)
from hmxai.types import EncodedImage


def dump(encoded: EncodedImage) -> bytes:
    """Serialize an :class:`EncodedImage` to the bytes of a ``.hmx`` file."""
    return write(encoded.codec, encoded.quality, encoded.image_size, encoded.params, encoded.payload)


def load(data: bytes) -> EncodedImage:
    """Parse ``.hmx`` bytes; every malformed input raises :class:`~hmxai.errors.BitstreamError`."""
    codec, quality, size, payload, params = read(data)
    return EncodedImage(codec, quality, size, payload, params)
