"""CompressAI's zoo architectures as hmxai codecs: random-init, pretrained, or a local checkpoint.

``pretrained=True`` goes through CompressAI's own loader, which reads the
torch hub cache (``$TORCH_HOME/hub/checkpoints``) and downloads into it when it
can. Offline, with the file not cached, it fails with a message naming the
folder and the file it expected. Set ``HMXAI_OFFLINE=1`` to never try the
network at all.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional
from urllib.parse import urlparse

import warnings

with warnings.catch_warnings():  # compressai's import warns about torch.jit.script
    warnings.simplefilter("ignore", FutureWarning)
    import compressai.zoo.image  # noqa: F401  (this module exists to adapt it)

from hmxai.codecs.catalog import LEARNED
from hmxai.codecs.learned import LearnedCodec
from hmxai.errors import CheckpointError, InvalidArgumentError, WeightsUnavailableError

METRICS = ("mse", "ms-ssim")
#: seed of random-init weights (contract tests and demos of the machinery, never claims)
RANDOM_INIT_SEED = 0


def _offline() -> bool:
    return os.environ.get("HMXAI_OFFLINE", "").strip().lower() in ("1", "true", "yes")


def pretrained_cache_path(arch: str, quality: int, metric: str = "mse") -> Optional[Path]:
    """Where CompressAI's loader looks for (and downloads) these weights; None if none exist."""
    import torch.hub

    from compressai.zoo.image import model_urls

    url = model_urls.get(arch, {}).get(metric, {}).get(quality)
    if url is None:
        return None
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name


def _check_args(arch: str, quality: int, metric: str) -> None:
    lo, hi = LEARNED[arch].quality_range
    if not isinstance(quality, int) or not lo <= quality <= hi:
        raise InvalidArgumentError(f"{arch}: quality must be an integer in {lo}..{hi}, got {quality!r}")
    if metric not in METRICS:
        raise InvalidArgumentError(f"{arch}: metric must be one of {METRICS}, got {metric!r}")


def make_compressai_codec(
    arch: str,
    quality: int = 3,
    metric: str = "mse",
    pretrained: bool = False,
    checkpoint: Optional[str | os.PathLike] = None,
) -> LearnedCodec:
    """Build a CompressAI architecture as a :class:`LearnedCodec`.

    Args:
        arch: a key of :data:`hmxai.codecs.catalog.LEARNED`.
        quality: CompressAI's quality index (sets N, M for random init).
        metric: ``mse`` or ``ms-ssim`` (which pretrained weights to load).
        pretrained: load CompressAI's published weights via its loader.
        checkpoint: load a local ``.pth``/``.pth.tar``/``.safetensors``
            state dict instead (N and M are read from the weights).
    """
    from compressai.zoo import image as zoo

    _check_args(arch, quality, metric)
    quality_range = LEARNED[arch].quality_range
    cls = zoo.model_architectures[arch]
    if checkpoint is not None:
        from compressai.zoo.pretrained import load_pretrained

        from hmxai.codecs.checkpoints import load_state_dict

        state = load_pretrained(load_state_dict(checkpoint))
        try:
            model = cls.from_state_dict(state)
        except (KeyError, RuntimeError, ValueError, IndexError) as exc:
            raise CheckpointError(
                f"checkpoint {str(checkpoint)!r} does not fit architecture {arch}: "
                f"{str(exc)[:300]}"
            ) from exc
        weights = f"checkpoint:{checkpoint}"
    elif pretrained:
        model = _load_pretrained(arch, quality, metric)
        weights = f"compressai-pretrained:{metric}"
    else:
        import torch

        with torch.random.fork_rng():  # same weights in every process: files stay decodable
            torch.manual_seed(RANDOM_INIT_SEED)
            model = cls(*zoo.cfgs[arch][quality])
        weights = f"random-init:seed{RANDOM_INIT_SEED}"
    return LearnedCodec(model, arch, quality, quality_range, metric, weights)


def _load_pretrained(arch: str, quality: int, metric: str):
    from compressai.zoo import image as zoo

    cache = pretrained_cache_path(arch, quality, metric)
    if cache is None:
        raise WeightsUnavailableError(
            f"CompressAI publishes no {metric} weights for {arch} quality {quality}"
        )
    hint = (
        f"hmxai expected the file {cache.name!r} in the torch hub cache folder "
        f"{str(cache.parent)!r}; copy it there from a machine with internet "
        "(or set TORCH_HOME), or pass checkpoint=PATH"
    )
    if _offline() and not cache.is_file():
        raise WeightsUnavailableError(
            f"CompressAI's pretrained weights for {arch} quality {quality} ({metric}) are not "
            f"on this machine and HMXAI_OFFLINE is set. {hint}"
        )
    try:
        return zoo._load_model(arch, metric, quality, pretrained=True, progress=False)
    except OSError as exc:  # URLError, socket errors, a partial download
        raise WeightsUnavailableError(
            f"CompressAI's pretrained weights for {arch} quality {quality} ({metric}) could not "
            f"be loaded or downloaded ({exc}). {hint}"
        ) from exc
    except Exception as exc:  # an unreadable cached file
        raise CheckpointError(f"the cached file {str(cache)!r} could not be loaded: {exc}") from exc
