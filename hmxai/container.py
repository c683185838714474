"""The ``.hmx`` file: a small self-describing header around a codec's bitstream.

Layout (all integers big-endian)::

    offset  size  field
    0       6     magic  b"HMXAI\\x00"
    6       1     format version (1)
    7       4     header length L
    11      L     header, UTF-8 JSON: codec, quality, height, width, params
    11+L    P     payload (the codec's own bytes)
    end-4   4     CRC-32 of everything before it

The CRC makes any truncation or flipped byte a clear :class:`BitstreamError`
before a decoder ever sees the payload. This module works on plain fields and imports nothing of
hmxai but its errors; :mod:`hmxai.codecs.container` reads and writes
:class:`~hmxai.types.EncodedImage` with it.
"""

from __future__ import annotations

import json
import math
import struct
import zlib

from typing import Tuple

from hmxai.errors import BitstreamError

MAGIC = b"HMXAI\x00"
VERSION = 1
_FIXED = len(MAGIC) + 1 + 4
_MAX_HEADER = 1 << 16


def write(codec: str, quality, image_size: Tuple[int, int], params: dict, payload: bytes) -> bytes:
    """The bytes of a ``.hmx`` file holding ``payload`` and what decoding it needs."""
    header = json.dumps(
        {
            "codec": codec,
            "quality": quality,
            "height": image_size[0],
            "width": image_size[1],
            "params": params,
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode("utf-8")
    body = MAGIC + struct.pack(">BI", VERSION, len(header)) + header + payload
    return body + struct.pack(">I", zlib.crc32(body))


def read(data: bytes) -> Tuple[str, object, Tuple[int, int], bytes, dict]:
    """Parse ``.hmx`` bytes into (codec, quality, image size, payload, params); every malformed
    input raises :class:`BitstreamError`."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise BitstreamError(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        raise BitstreamError("not an hmxai compressed file (bad magic bytes)")
    if len(data) < _FIXED + 4:
        raise BitstreamError(f"truncated hmxai file ({len(data)} bytes)")
    version, header_len = struct.unpack(">BI", data[len(MAGIC) : _FIXED])
    if version != VERSION:
        raise BitstreamError(
            f"hmxai file format version {version} is not supported (this hmxai reads {VERSION})"
        )
    if header_len > _MAX_HEADER or _FIXED + header_len + 4 > len(data):
        raise BitstreamError(
            f"truncated or corrupted hmxai file: header of {header_len} bytes "
            f"does not fit in {len(data)} bytes"
        )
    (crc,) = struct.unpack(">I", data[-4:])
    if zlib.crc32(data[:-4]) != crc:
        raise BitstreamError("hmxai file is corrupted or truncated (checksum mismatch)")
    try:
        header = json.loads(data[_FIXED : _FIXED + header_len].decode("utf-8"))
        codec, quality = header["codec"], header["quality"]
        size = (header["height"], header["width"])
        params = header["params"]
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise BitstreamError(f"hmxai file header is malformed: {exc}") from exc
    if not (
        isinstance(codec, str)
        and ((isinstance(quality, int) and not isinstance(quality, bool))
             or (isinstance(quality, float) and math.isfinite(quality)))
        and all(isinstance(v, int) and v > 0 for v in size)
        and isinstance(params, dict)
    ):
        raise BitstreamError(f"hmxai file header has invalid fields: {header!r}")
    payload = data[_FIXED + header_len : -4]
    return codec, quality, size, payload, params
