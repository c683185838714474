"""Classical anchors with real bytes: JPEG, WebP, JPEG 2000, AVIF (Pillow) and HEVC intra (HEIF).

Every codec is 8-bit: the input is rounded to uint8 before encoding (the
distortion is still measured against the original). Chroma is kept at full
resolution (4:4:4) wherever the format allows it; lossy WebP is always
4:2:0 (VP8 has no 4:4:4 mode), which :meth:`describe` states.

Quality knobs (higher is always better):

=========  =======  ==============================================
codec      range    meaning
=========  =======  ==============================================
jpeg       1..100   libjpeg quality, 4:4:4, optimized Huffman tables
webp       0..100   libwebp quality, method 6 (best compression)
jpeg2000   20..60   target PSNR in dB per layer (OpenJPEG ``dB`` mode), 9/7 wavelet
avif       0..100   libavif quality, 4:4:4, speed 6
heif       0..100   x265 quality (HEVC intra, Main 4:4:4), via pillow-heif
=========  =======  ==============================================
"""

from __future__ import annotations

import io
from typing import Any, Dict

import numpy as np
import torch
from torch import Tensor

from hmxai.codecs.base import Codec
from hmxai.codecs.catalog import CLASSICAL
from hmxai.errors import BitstreamError, InvalidArgumentError, MissingDependencyError
from hmxai.images import check_batch, to_uint8
from hmxai.types import EncodedImage


class PillowCodec(Codec):
    """Shared compress/decompress for formats Pillow (or a Pillow plug-in) writes."""

    format: str = ""
    chroma: str = "4:4:4"

    def _encode(self, img) -> bytes:
        raise NotImplementedError

    def _looks_valid(self, data: bytes) -> bool:
        raise NotImplementedError

    def _decode(self, data: bytes) -> np.ndarray:
        """The format's own decoder: bytes -> (H, W, 3) uint8."""
        from PIL import Image

        with Image.open(io.BytesIO(data)) as img:
            if img.format != self.format:
                raise BitstreamError(f"{self.name}: payload is {img.format}, not {self.format}")
            img.load()
            return np.asarray(img.convert("RGB"))

    def compress(self, x: Tensor) -> EncodedImage:
        from PIL import Image

        check_batch(x)
        if x.shape[0] != 1:
            raise InvalidArgumentError("compress() codes one image: x must be (1, 3, H, W)")
        img = Image.fromarray(to_uint8(x), "RGB")
        payload = self._encode(img)
        return EncodedImage(self.name, self.quality, tuple(x.shape[-2:]), payload, {})

    def decompress(self, encoded: EncodedImage) -> Tensor:
        self._check_encoded(encoded)
        data = encoded.payload
        if not self._looks_valid(data):
            raise BitstreamError(f"{self.name}: payload is not a {self.format} bitstream")
        try:
            arr = self._decode(data)
        except BitstreamError:
            raise
        except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError...
            raise BitstreamError(
                f"{self.name}: the bitstream could not be decoded (truncated or corrupted): {exc}"
            ) from exc
        if tuple(arr.shape[:2]) != tuple(encoded.image_size):
            raise BitstreamError(
                f"{self.name}: decoded {arr.shape[1]}x{arr.shape[0]} pixels, header says "
                f"{encoded.image_size[1]}x{encoded.image_size[0]}"
            )
        return torch.from_numpy(arr.copy()).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)

    def describe(self) -> Dict[str, Any]:
        d = super().describe()
        d.update(format=self.format, chroma=self.chroma, bit_depth=8)
        return d


#: the IJG example quantization tables (ITU-T T.81 Annex K), natural order: luminance, chrominance
_IJG_LUMA = (16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
             14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
             49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99)
_IJG_CHROMA = (17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
               47, 66, 99, 99, 99, 99, 99, 99) + (99,) * 32


def ijg_tables(quality: int):
    """libjpeg's quantization tables for ``quality`` (``jpeg_set_quality`` with baseline clamping)."""
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return [[min(255, max(1, (v * scale + 50) // 100)) for v in table] for table in (_IJG_LUMA, _IJG_CHROMA)]


class JpegCodec(PillowCodec):
    name, format, quality_range = "jpeg", "JPEG", CLASSICAL["jpeg"].quality_range

    def _encode(self, img) -> bytes:
        # The tables libjpeg derives from quality=q, given explicitly: the same bytes as quality=q,
        # but Pillow then sizes its one-shot buffer for optimized Huffman coding at 16 bpp instead
        # of 8, which detailed images at high quality in 4:4:4 exceed ("broken data stream").
        buf = io.BytesIO()
        img.save(buf, "JPEG", qtables=ijg_tables(self.quality), subsampling=0, optimize=True)
        return buf.getvalue()

    def _looks_valid(self, data: bytes) -> bool:
        return data[:3] == b"\xff\xd8\xff"


class WebpCodec(PillowCodec):
    name, format, quality_range = "webp", "WEBP", CLASSICAL["webp"].quality_range
    chroma = "4:2:0 (lossy WebP has no 4:4:4)"

    def _encode(self, img) -> bytes:
        buf = io.BytesIO()
        img.save(buf, "WEBP", quality=self.quality, method=6)
        return buf.getvalue()

    def _looks_valid(self, data: bytes) -> bool:
        return data[:4] == b"RIFF" and data[8:12] == b"WEBP"


class Jpeg2000Codec(PillowCodec):
    name, format, quality_range = "jpeg2000", "JPEG2000", CLASSICAL["jpeg2000"].quality_range

    def _encode(self, img) -> bytes:
        buf = io.BytesIO()
        img.save(
            buf,
            "JPEG2000",
            quality_mode="dB",
            quality_layers=[float(self.quality)],
            irreversible=True,
            no_jp2=False,
        )
        return buf.getvalue()

    def _looks_valid(self, data: bytes) -> bool:
        return data[:12] == b"\x00\x00\x00\x0cjP  \r\n\x87\n"


class AvifCodec(PillowCodec):
    name, format, quality_range = "avif", "AVIF", CLASSICAL["avif"].quality_range

    def _encode(self, img) -> bytes:
        buf = io.BytesIO()
        img.save(buf, "AVIF", quality=self.quality, subsampling="4:4:4", speed=6)
        return buf.getvalue()

    def _looks_valid(self, data: bytes) -> bool:
        return data[4:8] == b"ftyp" and data[8:12] in (b"avif", b"avis")


class HeifCodec(PillowCodec):
    """HEVC intra in a HEIF container, encoded by x265 through pillow-heif."""

    name, format, quality_range = "heif", "HEIF", CLASSICAL["heif"].quality_range

    @staticmethod
    def _lib():
        try:
            import pillow_heif
        except ImportError as exc:
            raise MissingDependencyError(
                "the heif codec needs pillow-heif: pip install pillow-heif"
            ) from exc
        return pillow_heif

    def _encode(self, img) -> bytes:
        buf = io.BytesIO()
        self._lib().from_pillow(img).save(buf, quality=self.quality, chroma=444)
        return buf.getvalue()

    def _looks_valid(self, data: bytes) -> bool:
        return data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"mif1", b"msf1")

    def _decode(self, data: bytes) -> np.ndarray:
        heif = self._lib().open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
        return np.asarray(heif[0].to_pillow().convert("RGB"))

    def describe(self) -> Dict[str, Any]:
        d = super().describe()
        d["encoder"] = "x265 (HEVC intra) via pillow-heif"
        return d


CLASSICAL_CODECS = {c.name: c for c in (JpegCodec, WebpCodec, Jpeg2000Codec, AvifCodec, HeifCodec)}
