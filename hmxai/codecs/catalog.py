"""Plain facts about every codec, importable without torch or compressai.

The registry, ``hmxai info`` and the codec classes all read these tables,
so a quality range or a description is written once.
"""

from __future__ import annotations

from typing import Dict, NamedTuple, Tuple


class CodecFacts(NamedTuple):
    quality_range: Tuple[int, int]
    default_quality: int
    description: str


#: CompressAI zoo architectures (quality = CompressAI's rate index)
LEARNED: Dict[str, CodecFacts] = {
    "bmshj2018-factorized": CodecFacts((1, 8), 3, "Balle et al., ICLR 2018: factorized prior"),
    "bmshj2018-hyperprior": CodecFacts((1, 8), 3, "Balle et al., ICLR 2018: scale hyperprior"),
    "mbt2018-mean": CodecFacts((1, 8), 3, "Minnen et al., NeurIPS 2018: mean-scale hyperprior"),
    "mbt2018": CodecFacts((1, 8), 3, "Minnen et al., NeurIPS 2018: joint autoregressive + hyperprior"),
    "cheng2020-anchor": CodecFacts((1, 6), 3, "Cheng et al., CVPR 2020: anchor"),
    "cheng2020-attn": CodecFacts((1, 6), 3, "Cheng et al., CVPR 2020: with attention"),
}

#: classical anchors (quality: higher is better; see hmxai.codecs.classical)
CLASSICAL: Dict[str, CodecFacts] = {
    "jpeg": CodecFacts((1, 100), 50, "JPEG (libjpeg via Pillow), 4:4:4"),
    "webp": CodecFacts((0, 100), 50, "WebP lossy (libwebp via Pillow), 4:2:0"),
    "jpeg2000": CodecFacts((20, 60), 35, "JPEG 2000 (OpenJPEG via Pillow), quality = target dB"),
    "avif": CodecFacts((0, 100), 50, "AVIF (libavif via Pillow), 4:4:4"),
    "heif": CodecFacts((0, 100), 50, "HEVC intra in HEIF (x265 via pillow-heif), 4:4:4"),
}

#: hmxai's own pretrained zoo (weights ship in the package; see hmxai.codecs.zoo), in the explorer's order
ZOO: Dict[str, CodecFacts] = {
    "hmxai-vbr": CodecFacts((1, 6), 3, "hmxai zoo: variable-rate mean-scale hyperprior N=96 M=128, one model, "
                            "continuous quality 1.0-6.0 (the default learned codec; see its model card)"),
    "hmxai-hm": CodecFacts((1, 6), 3, "hmxai zoo: hmxai-vbr fine-tuned for humans and machines "
                           "(L = R + λh·D_h + λm·D_m, EfficientNet-Lite0 distillation), continuous quality 1.0-6.0 "
                           "(preview: not yet ahead of hmxai-vbr for machines; see its model card)"),
    "hmxai-msh": CodecFacts((1, 5), 3, "hmxai zoo: mean-scale hyperprior N=64 M=96, five models, one per rate (the first zoo)"),
}

#: zoo codecs with one set of weights for every quality, fractions included (``quality=2.5``)
VARIABLE_RATE = ("hmxai-vbr", "hmxai-hm")
