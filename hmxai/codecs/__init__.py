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

#: the default learned codec everywhere (CLI, demo, notebooks): hmxai's own offline zoo
DEFAULT_LEARNED_CODEC = "hmxai-vbr"


def _learned_factory(arch: str, default_quality: int):
    def factory(quality: int = default_quality, metric: str = "mse", pretrained: bool = False, checkpoint=None):
        from hmxai.codecs.compressai_zoo import make_compressai_codec

        return make_compressai_codec(arch, quality, metric, pretrained, checkpoint)

    return factory


def _zoo_factory(name: str, default_quality: int):
    def factory(quality: int = default_quality, metric: str = "mse"):
        from hmxai.codecs.zoo import make_zoo_codec

        return make_zoo_codec(name, quality, metric)

    return factory


def _classical_factory(name: str, default_quality: int):
    def factory(quality: int = default_quality):
        from hmxai.codecs.classical import CLASSICAL_CODECS

        return CLASSICAL_CODECS[name](quality)

    return factory


def _register_all() -> None:
    from hmxai.codecs.catalog import CLASSICAL, LEARNED, VARIABLE_RATE, ZOO

    for name, facts in ZOO.items():
        CODECS.register(
            name, _zoo_factory(name, facts.default_quality), facts.description, learned=True,
            quality_range=facts.quality_range, default_quality=facts.default_quality,
            weights="hmxai zoo: package data (safetensors), offline", zoo=True,
            continuous=name in VARIABLE_RATE,
        )
    for arch, facts in LEARNED.items():
        CODECS.register(
            arch, _learned_factory(arch, facts.default_quality), facts.description, learned=True,
            quality_range=facts.quality_range, default_quality=facts.default_quality,
            weights="compressai (pretrained=True, needs internet or a filled torch hub cache) "
            "| checkpoint=PATH | seeded random init",
        )
    for name, facts in CLASSICAL.items():
        CODECS.register(
            name, _classical_factory(name, facts.default_quality), facts.description, learned=False,
            quality_range=facts.quality_range, default_quality=facts.default_quality,
            weights="none (classical)",
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
