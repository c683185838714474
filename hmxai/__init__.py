"""hmxai: which bits of a compressed image serve humans, which serve machines.

The public API, importable from the package root (loaded on first use, so
``import hmxai`` stays fast and imports neither torch nor compressai):

>>> import hmxai
>>> x = hmxai.load_image("photo.png")                     # (1, 3, H, W) in [0, 1]
>>> codec = hmxai.create_codec("jpeg", quality=30)
>>> result = hmxai.run_pipeline(x, codec)                  # PipelineResult
>>> hmxai.RateExplorer(x)                                  # in a notebook: the interactive explorer
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "load_image": "hmxai.images",
    "create_codec": "hmxai.codecs",
    "list_codecs": "hmxai.codecs",
    "read_compressed": "hmxai.codecs",
    "codec_for": "hmxai.codecs",
    "create_task": "hmxai.tasks",
    "list_tasks": "hmxai.tasks",
    "wrap_task": "hmxai.tasks.base",
    "decode": "hmxai.pipeline",
    "run_pipeline": "hmxai.pipeline",
    "run_ladder": "hmxai.pipeline",
    "sample_image": "hmxai.samples",
    "psnr": "hmxai.metrics",
    "ms_ssim": "hmxai.metrics",
    "channel_scores": "hmxai.explain.channels",
    "channel_scores_batch": "hmxai.explain.channels",
    "bit_budget": "hmxai.explain.budget",
    "budget_curves": "hmxai.explain.budget",
    "where_bits_go": "hmxai.explain.spatial",
    "deletion_insertion": "hmxai.explain.faithfulness",
    "rate_ladder": "hmxai.explain.ladder",
    "explain_pixels": "hmxai.explain.pixels",
    "pixel_faithfulness": "hmxai.explain.pixels",
    "RateExplorer": "hmxai.ui.explorer",
    "HmxaiError": "hmxai.errors",
    "LatentResult": "hmxai.types",
    "EncodedImage": "hmxai.types",
    "PipelineResult": "hmxai.types",
    "Rung": "hmxai.types",
    "Metrics": "hmxai.types",
    "ChannelScores": "hmxai.types",
    "RateLadder": "hmxai.types",
    "PixelExplanation": "hmxai.types",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hmxai' has no attribute {name!r}")


def __dir__():
    return __all__
