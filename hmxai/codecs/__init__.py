"""Codec registry: every learned and classical codec under one kebab-case name.

>>> from hmxai.codecs import create_codec, list_codecs
>>> list_codecs("bmshj*")
['bmshj2018-factorized', 'bmshj2018-hyperprior']
>>> jpeg = create_codec("jpeg", quality=40)
"""

from __future__ import annotations

import os
from typing import List, Optional

from hmxai.registry import Registry

CODECS: Registry = Registry("codec")


def _learned_factory(arch: str):
    def factory(quality: int = 3, metric: str = "mse", pretrained: bool = False, checkpoint=None):
        from hmxai.codecs.compressai_zoo import make_compressai_codec

        return make_compressai_codec(arch, quality, metric, pretrained, checkpoint)

    return factory


def _classical_factory(name: str, default_quality: int):
    def factory(quality: int = default_quality):
        from hmxai.codecs.classical import CLASSICAL_CODECS

        return CLASSICAL_CODECS[name](quality)

    return factory


def _register_all() -> None:
    # facts are plain data so listing never imports torch or compressai
    learned = {
        "bmshj2018-factorized": ((1, 8), "Balle et al., ICLR 2018: factorized prior"),
        "bmshj2018-hyperprior": ((1, 8), "Balle et al., ICLR 2018: scale hyperprior"),
        "mbt2018-mean": ((1, 8), "Minnen et al., NeurIPS 2018: mean-scale hyperprior"),
        "mbt2018": ((1, 8), "Minnen et al., NeurIPS 2018: joint autoregressive + hyperprior"),
        "cheng2020-anchor": ((1, 6), "Cheng et al., CVPR 2020: anchor"),
        "cheng2020-attn": ((1, 6), "Cheng et al., CVPR 2020: with attention"),
    }
    for arch, (qrange, desc) in learned.items():
        CODECS.register(
            arch, _learned_factory(arch), desc, learned=True, quality_range=qrange,
            default_quality=3, weights="compressai (pretrained=True, needs internet or a "
            "filled torch hub cache) | checkpoint=PATH | random-init",
        )
    classical = {
        "jpeg": ((1, 100), 50, "JPEG (libjpeg via Pillow), 4:4:4"),
        "webp": ((0, 100), 50, "WebP lossy (libwebp via Pillow), 4:2:0"),
        "jpeg2000": ((20, 60), 35, "JPEG 2000 (OpenJPEG via Pillow), quality = target dB"),
        "avif": ((0, 100), 50, "AVIF (libavif via Pillow), 4:4:4"),
        "heif": ((0, 100), 50, "HEVC intra in HEIF (x265 via pillow-heif), 4:4:4"),
    }
    for name, (qrange, default, desc) in classical.items():
        CODECS.register(
            name, _classical_factory(name, default), desc, learned=False,
            quality_range=qrange, default_quality=default, weights="none (classical)",
        )


_register_all()


def create_codec(name: str, quality: Optional[int] = None, **kwargs):
    """Create a codec by registry name; ``quality=None`` takes its default."""
    entry = CODECS.entry(name)
    if quality is not None:
        kwargs["quality"] = quality
    return entry.factory(**kwargs)


def list_codecs(pattern: str = "*", learned: Optional[bool] = None) -> List[str]:
    """Registered codec names matching a wildcard, optionally only learned or classical."""
    names = CODECS.names(pattern)
    if learned is None:
        return names
    return [n for n in names if CODECS.entry(n).facts["learned"] is learned]


def read_compressed(path: str | os.PathLike):
    """Read a ``.hmx`` file into an :class:`~hmxai.types.EncodedImage`."""
    from pathlib import Path

    from hmxai.codecs.container import load
    from hmxai.errors import BitstreamError

    p = Path(path)
    if not p.is_file():
        raise BitstreamError(f"compressed file {str(p)!r} does not exist")
    return load(p.read_bytes())


def codec_for(encoded, **kwargs):
    """The codec that decodes ``encoded`` (same name and quality; learned weights via kwargs)."""
    if encoded.codec not in CODECS:
        from hmxai.errors import BitstreamError

        raise BitstreamError(f"the file was written by an unknown codec {encoded.codec!r}")
    metric = encoded.params.get("metric")
    if metric is not None and CODECS.entry(encoded.codec).facts["learned"]:
        kwargs.setdefault("metric", metric)
    return create_codec(encoded.codec, quality=encoded.quality, **kwargs)
