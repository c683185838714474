"""The .hmx file: every truncation and every flipped byte is a clear BitstreamError."""

import struct
import zlib

import pytest

from hmxai.codecs import create_codec
from hmxai.codecs.container import MAGIC, dump, load
from hmxai.errors import BitstreamError


@pytest.fixture(scope="module", params=["jpeg", "mbt2018-mean"])
def encoded(request, small):
    return create_codec(request.param, quality=1 if request.param != "jpeg" else 30).compress(small)


def test_round_trip(encoded):
    data = dump(encoded)
    assert data.startswith(MAGIC)
    back = load(data)
    assert back == encoded
    assert len(data) == encoded.file_bytes == len(encoded.payload) + encoded.header_bytes


def test_every_truncation_is_refused(encoded):
    data = dump(encoded)
    for n in list(range(0, 40)) + list(range(40, len(data), max(1, len(data) // 97))):
        with pytest.raises(BitstreamError):
            load(data[:n])


def test_every_single_byte_flip_is_refused(encoded):
    data = bytearray(dump(encoded))
    for i in range(0, len(data), max(1, len(data) // 200)):
        corrupt = bytearray(data)
        corrupt[i] ^= 0x5A
        with pytest.raises(BitstreamError):
            load(bytes(corrupt))


def _with_crc(body: bytes) -> bytes:
    return body + struct.pack(">I", zlib.crc32(body))


def test_structurally_bad_files_with_valid_checksum(encoded):
    data = dump(encoded)
    body = data[:-4]
    with pytest.raises(BitstreamError, match="version 9"):
        load(_with_crc(body[:6] + b"\x09" + body[7:]))
    with pytest.raises(BitstreamError, match="does not fit"):
        load(_with_crc(body[:7] + struct.pack(">I", 10**6) + body[11:]))
    header = b'{"codec":"jpeg"}'
    with pytest.raises(BitstreamError, match="malformed"):
        load(_with_crc(MAGIC + struct.pack(">BI", 1, len(header)) + header))
    header = b'{"codec":"jpeg","quality":"high","height":1,"width":1,"params":{}}'
    with pytest.raises(BitstreamError, match="invalid fields"):
        load(_with_crc(MAGIC + struct.pack(">BI", 1, len(header)) + header))
    with pytest.raises(BitstreamError, match="magic"):
        load(b"\x89PNG\r\n\x1a\n" + data)
    with pytest.raises(BitstreamError, match="expected bytes"):
        load("a string")


def test_unknown_codec_in_a_valid_file(encoded):
    from dataclasses import replace

    from hmxai.codecs import codec_for

    with pytest.raises(BitstreamError, match="unknown codec"):
        codec_for(load(dump(replace(encoded, codec="mystery"))))


def test_a_header_with_an_absurd_quality_is_a_bitstream_error():
    import json as _json
    import struct
    import zlib

    from hmxai.container import MAGIC, VERSION

    header = _json.dumps({"codec": "jpeg", "quality": 10**400, "height": 1, "width": 1, "params": {}}).encode()
    body = MAGIC + struct.pack(">BI", VERSION, len(header)) + header + b"x"
    data = body + struct.pack(">I", zlib.crc32(body))
    assert load(data).quality == 10**400  # the container reads any integer; the codec refuses it
    nan = body.replace(b"1" + b"0" * 400, b"NaN")
    bad = nan[:7] + struct.pack(">I", len(nan) - 11 - 1) + nan[11:]
    with pytest.raises(BitstreamError):
        load(bad + struct.pack(">I", zlib.crc32(bad)))
