"""Codec + task on one image -> one :class:`~hmxai.types.PipelineResult`.

Data flow (one way)::

    image -> load_image -> codec.compress -> bytes -> codec.decompress -> x_hat
          -> metrics(x, x_hat)            (what a person sees: PSNR, MS-SSIM)
          -> task(x), task(x_hat)         (what the machine decides: top-5, agreement)

:func:`decode` computes one :class:`~hmxai.types.Rung` (bytes, decoded image, latent, metrics,
prediction); every other feature is built from rungs.
"""

from __future__ import annotations

import os
from typing import Iterable, List, Optional, Tuple, Union

from hmxai.codecs.base import Codec
from hmxai.errors import InvalidArgumentError
from hmxai.images import ImageLike, load_image
from hmxai.metrics import ms_ssim, psnr
from hmxai.tasks.base import TaskModel
from hmxai.types import Metrics, PipelineResult, Prediction, Rung


def resolve_task(task: Union[str, TaskModel, None]) -> TaskModel:
    """A task model from a name (None: the default, EfficientNet-Lite0) or the model itself."""
    from hmxai.tasks import DEFAULT_TASK, create_task

    if task is None or isinstance(task, str):
        from hmxai.latent import LATENT_TASKS, create_latent_task

        if task in LATENT_TASKS.names():
            return create_latent_task(task)
        return create_task(task or DEFAULT_TASK)
    return task


def resolve_models(codec: Union[str, Codec], quality: Optional[int], task: Union[str, TaskModel, None]):
    """``(codec, task)`` from names or objects; a codec object must match ``quality`` if one is given."""
    from hmxai.codecs import create_codec

    if isinstance(codec, str):
        codec = create_codec(codec, quality=quality)
    elif quality is not None and quality != codec.quality:
        raise InvalidArgumentError(f"quality={quality} given with a codec built at quality {codec.quality}")
    return codec, resolve_task(task)


def decode(image: ImageLike, codec: Union[str, Codec], task: Union[str, TaskModel, None] = None, *,
           quality: Optional[float] = None, max_pixels: Optional[int] = None) -> Rung:
    """The one rung of ``image`` under ``codec``: the only place that compresses, decodes and predicts.

    Real bytes from ``codec.compress``, ``x_hat`` decoded from them, the latent they carry
    (learned codecs), PSNR / MS-SSIM / measured and estimated bpp, and, when a ``task`` is given
    (a model or a registry name), its top-5 on ``x_hat``. Pipeline results, rate ladders,
    evaluations and the explorer are built from rungs.

    Args:
        image: path, PIL image, array or tensor; one image, ``(1, 3, H, W)`` in [0, 1] once loaded.
        codec: a :class:`Codec` or a registry name (then ``quality`` picks the rate).
        task: None: no prediction.
    """
    from hmxai.codecs import create_codec

    if isinstance(codec, str):
        codec = create_codec(codec, quality=quality)
    elif quality is not None and quality != codec.quality:
        raise InvalidArgumentError(f"quality={quality} given with a codec built at quality {codec.quality}")
    if isinstance(task, str):
        task = resolve_task(task)
    x = load_image(image, max_pixels=max_pixels)
    encoded, x_hat, encode_seconds, decode_seconds = codec.roundtrip(x)
    latent = codec.analyze(x) if codec.has_latent else None
    metrics = Metrics(
        measured_bpp=encoded.measured_bpp,
        estimated_bpp=None if latent is None else float(latent.estimated_bpp[0]),
        psnr=float(psnr(x, x_hat)[0]),
        ms_ssim=float(ms_ssim(x, x_hat)[0]),
    )
    rung = Rung(codec.name, codec.quality, getattr(codec, "weights", None), getattr(codec, "weights_id", None),
                encoded, x_hat, latent, metrics, None, encode_seconds, decode_seconds)
    return rung if task is None else predict_rung(rung, task)


def predict_rung(rung: Rung, task: Union[str, TaskModel]) -> Rung:
    """The same rung with ``task``'s top-5 on its decoded image (one rung, several tasks: a sweep)."""
    from dataclasses import replace

    task = resolve_task(task)
    if getattr(task, "reads", None) == "latent":  # a machine that reads the bits: the rung's latent, no pixels
        return replace(rung, prediction=task.predict(rung, k=5)[0])
    return replace(rung, prediction=task.predict(rung.x_hat, k=5)[0])


def run_pipeline(
    image: ImageLike,
    codec: Union[str, Codec] = "jpeg",
    task: Union[str, TaskModel, None] = None,
    *,
    quality: Optional[float] = None,
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
    rung = decode(x, codec, task, max_pixels=max_pixels)
    return pipeline_result(rung, task.predict(x, k=5)[0], task, image_name=image_name, label=label)


def pipeline_result(rung: Rung, original: Prediction, task: TaskModel, *, image_name: str = "image",
                    label: Optional[int] = None) -> PipelineResult:
    """A :class:`PipelineResult` from a rung (with its prediction) and the original's prediction."""
    m = rung.metrics
    return PipelineResult(
        image_name=image_name,
        codec=rung.codec,
        quality=rung.quality,
        task=task.name,
        image_size=tuple(rung.image_size),
        measured_bpp=m.measured_bpp,
        file_bytes=rung.encoded.file_bytes,
        estimated_bpp=m.estimated_bpp,
        psnr=m.psnr,
        ms_ssim=m.ms_ssim,
        original=original,
        decoded=rung.prediction,
        top1_agreement=original.top1 == rung.prediction.top1,
        label=label,
        codec_weights=rung.weights,
        task_weights=task.weights,
        encode_seconds=rung.encode_seconds,
        decode_seconds=rung.decode_seconds,
        rung=rung,
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
