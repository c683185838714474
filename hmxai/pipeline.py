"""Codec + task on one image -> one :class:`~hmxai.types.PipelineResult`.

Data flow (one way)::

    image -> load_image -> codec.compress -> bytes -> codec.decompress -> x_hat
          -> metrics(x, x_hat)            (what a person sees: PSNR, MS-SSIM)
          -> task(x), task(x_hat)         (what the machine decides: top-5, agreement)
"""

from __future__ import annotations

import os
from typing import Iterable, List, Optional, Tuple, Union

import torch
from hmxai.codecs.base import Codec
from hmxai.images import ImageLike, load_image
from hmxai.metrics import ms_ssim, psnr
from hmxai.tasks.base import TaskModel
from hmxai.types import PipelineResult


def resolve_task(task: Union[str, TaskModel, None]) -> TaskModel:
    """A task model from a name (None: the default, EfficientNet-Lite0) or the model itself."""
    from hmxai.tasks import DEFAULT_TASK, create_task

    if task is None or isinstance(task, str):
        return create_task(task or DEFAULT_TASK)
    return task


def resolve_models(codec: Union[str, Codec], quality: Optional[int], task: Union[str, TaskModel, None]):
    """``(codec, task)`` from names or objects; a codec object must match ``quality`` if one is given."""
    from hmxai.codecs import create_codec

    if isinstance(codec, str):
        codec = create_codec(codec, quality=quality)
    elif quality is not None and quality != codec.quality:
        raise ValueError(f"quality={quality} given with a codec built at quality {codec.quality}")
    return codec, resolve_task(task)


def run_pipeline(
    image: ImageLike,
    codec: Union[str, Codec] = "jpeg",
    task: Union[str, TaskModel, None] = None,
    *,
    quality: Optional[int] = None,
    label: Optional[int] = None,
    image_name: Optional[str] = None,
    max_pixels: Optional[int] = None,
) -> PipelineResult:
    """Compress ``image`` to real bytes, decode, and compare human and machine views.

    Args:
        image: path, PIL image, array or tensor (see :func:`hmxai.load_image`).
        codec: a :class:`Codec` or registry name (then ``quality`` picks the rate).
        task: a :class:`TaskModel` or registry name; default EfficientNet-Lite0.
        label: ground-truth class index, if known (adds accuracy fields).
        image_name: name used in tables; defaults to the path or ``"image"``.
    """
    codec, task = resolve_models(codec, quality, task)
    x = load_image(image, max_pixels=max_pixels)
    if image_name is None:
        image_name = str(image) if isinstance(image, (str, os.PathLike)) else "image"

    encoded, x_hat, encode_seconds, decode_seconds = codec.roundtrip(x)
    bpp_estimated = float(codec.analyze(x).estimated_bpp[0]) if codec.has_latent else None

    original, decoded = task.predict(torch.cat([x, x_hat]), k=5)
    return PipelineResult(
        image_name=image_name,
        codec=codec.name,
        quality=codec.quality,
        task=task.name,
        image_size=tuple(x.shape[-2:]),
        bpp_measured=encoded.measured_bpp,
        file_bytes=encoded.file_bytes,
        bpp_estimated=bpp_estimated,
        psnr=float(psnr(x, x_hat)[0]),
        ms_ssim=float(ms_ssim(x, x_hat)[0]),
        original=original,
        decoded=decoded,
        top1_agreement=original.top1 == decoded.top1,
        label=label,
        codec_weights=getattr(codec, "weights", None),
        task_weights=task.weights,
        encode_seconds=encode_seconds,
        decode_seconds=decode_seconds,
    )


def run_ladder(
    images: Iterable[Tuple[str, ImageLike]],
    codecs: Iterable[Tuple[str, int]],
    task: Union[str, TaskModel, None] = None,
    progress: bool = True,
) -> List[PipelineResult]:
    """Every (image, codec, quality) combination, with a progress bar; task built once."""
    from tqdm.auto import tqdm

    from hmxai.codecs import create_codec
    from hmxai.tasks import DEFAULT_TASK, create_task

    task = create_task(task or DEFAULT_TASK) if task is None or isinstance(task, str) else task
    images = [(name, load_image(img)) for name, img in images]
    built = [create_codec(name, quality=q) for name, q in codecs]
    results = []
    with tqdm(total=len(images) * len(built), desc="pipeline", disable=not progress) as bar:
        for name, x in images:
            for codec in built:
                results.append(run_pipeline(x, codec, task, image_name=name))
                bar.update()
    return results
