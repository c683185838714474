"""LIME over a rate ladder: one segmentation and one set of perturbation masks for every rate.

>>> ladder = rate_ladder(x, "jpeg", [5, 20, 80])
>>> lime = explain_lime(ladder, seed=0, num_samples=1000)
>>> lime.weights      # (1 + R, F) one weight per superpixel, row 0 the original
>>> lime.maps         # (1 + R, H, W) the weights painted on their superpixels

The one adapter around the stock ``lime`` package (Ribeiro et al., KDD 2016). It owns the
tensor/array conversion, the seed, the batching and the progress bar:

* **segmentation** of the *original* image, once (``quickshift`` with LIME's defaults,
  ``slic`` or ``felzenszwalb``; :data:`SEGMENTATIONS`). It depends only on the image and the
  segmentation parameters, never on ``seed``; every rate uses it, so rows differ only by what
  compression did.
* **masks**: ``seed`` draws the ``num_samples x F`` on/off matrix exactly as stock
  ``LimeImageExplainer(random_state=seed).explain_instance(..., random_seed=...)`` does (row 0
  all on; without ``random_seed`` stock first draws a segmentation seed from the same state, so
  its masks differ), once, for all rates. Stock LIME's
  own ``random_seed`` fixes only the segmentation; here the same seed gives the same masks, the
  same classifier inputs and the same weights, bit for bit.
* **perturbed images** are built in torch (``where(mask, image, fill)``; ``fill="mean"`` is stock
  LIME's default: each superpixel's mean colour on that row) and sent in batches of 4, one
  batch per core in parallel, to an :func:`~hmxai.explain.inference.inference_copy` of the task
  (batch norm folded into the convolutions, channels last, ``inference_mode``; the user's model
  is never changed).
* **the fit** is stock LIME's: cosine distance to the unperturbed row, kernel
  ``sqrt(exp(-d^2 / width^2))``, weighted ridge (alpha 1) on all superpixels
  (``lime.lime_base.LimeBase``), one fit per row for the target class's probability.
"""

from __future__ import annotations

import time
from typing import Callable, Optional, Union

import numpy as np
import torch
from torch import Tensor

from hmxai.errors import InvalidArgumentError
from hmxai.explain.inference import inference_copy, parallel_batches
from hmxai.registry import Registry
from hmxai.types.ladder import PixelExplanation, RateLadder

SEGMENTATIONS: Registry[Callable] = Registry("segmentation")


def _quickshift(image: np.ndarray, kernel_size=4, max_dist=200, ratio=0.2, rng=0):
    from skimage.segmentation import quickshift

    return quickshift(image, kernel_size=kernel_size, max_dist=max_dist, ratio=ratio, rng=rng)


def _slic(image: np.ndarray, n_segments=50, compactness=10.0, sigma=1.0):
    from skimage.segmentation import slic

    return slic(image, n_segments=n_segments, compactness=compactness, sigma=sigma, start_label=0)


def _felzenszwalb(image: np.ndarray, scale=100.0, sigma=0.5, min_size=50):
    from skimage.segmentation import felzenszwalb

    return felzenszwalb(image, scale=scale, sigma=sigma, min_size=min_size)


SEGMENTATIONS.register("quickshift", _quickshift, "quickshift with LIME's defaults (kernel 4, max_dist 200, ratio 0.2)")
SEGMENTATIONS.register("slic", _slic, "SLIC, about 50 superpixels")
SEGMENTATIONS.register("felzenszwalb", _felzenszwalb, "Felzenszwalb graph segmentation")


def segment(image: Tensor, method: str = "quickshift", **params) -> Tensor:
    """Superpixels of ``image: (1, 3, H, W)`` -> ``(H, W)`` int64 labels ``0..F-1`` (deterministic)."""
    fn = SEGMENTATIONS.entry(method).factory
    arr = image[0].permute(1, 2, 0).double().numpy()
    labels = np.asarray(fn(arr, **params))
    _, inverse = np.unique(labels, return_inverse=True)  # contiguous 0..F-1, as stock LIME assumes
    return torch.from_numpy(inverse.reshape(labels.shape).astype(np.int64))


def sample_masks(num_samples: int, num_features: int, seed: int) -> np.ndarray:
    """``(num_samples, F)`` 0/1 matrix, row 0 all ones: the draw of stock LIME with ``random_state=seed``."""
    data = np.random.RandomState(seed).randint(0, 2, num_samples * num_features).reshape(num_samples, num_features)
    data[0, :] = 1
    return data


def superpixel_fill(image: Tensor, segments: Tensor, fill: Union[str, float] = "mean") -> Tensor:
    """``(3, H, W)`` the colour a switched-off superpixel takes: its mean colour, or a constant."""
    if fill != "mean":
        return torch.full_like(image[0], float(fill))
    flat = segments.flatten()
    count = torch.bincount(flat).to(image.dtype)
    sums = torch.zeros(3, count.numel(), dtype=image.dtype).index_add_(1, flat, image[0].reshape(3, -1))
    return (sums / count)[:, segments]


def explain_lime(ladder: RateLadder, task=None, *, target: Optional[int] = None, num_samples: int = 1000,
                 seed: int = 0, segmentation: str = "quickshift", segmentation_params: Optional[dict] = None,
                 fill: Union[str, float] = "mean", kernel_width: float = 0.25, batch_size: int = 4,
                 workers: Optional[int] = None, precision: str = "float32", fold: bool = True,
                 progress: bool = True) -> PixelExplanation:
    """LIME weights of ``target`` on every row of ``ladder``, shared segmentation and masks.

    Args:
        ladder: from :func:`~hmxai.explain.ladder.rate_ladder`.
        task: the ladder's task model (or its name; default EfficientNet-Lite0).
        target: class to explain (default: the original's top-1, the same for every row).
        num_samples: perturbations per row (row 0 of them is the unperturbed image).
        seed: draws the masks (never the segmentation).
        segmentation, segmentation_params: superpixel method and its settings (:data:`SEGMENTATIONS`).
        fill: ``"mean"`` (each superpixel's mean colour, stock LIME) or a grey level in [0, 1].
        kernel_width: LIME's kernel width on the cosine distance.
        batch_size: images per classifier call (4 was fastest on 2 CPU cores).
        workers: batches run in parallel, one torch thread each (default: torch's thread count);
            the weights do not depend on it.
        precision: ``"float32"`` or ``"bfloat16"`` (CPU autocast: faster on CPUs with AMX/AVX-512
            bf16, an approximation; see ``benchmarks/lime_ladder.py`` for how much the weights move).
        fold: fold batch norm into convolutions in the inference copy (exact up to rounding).
    """
    from lime.lime_image import LimeImageExplainer
    from sklearn.metrics import pairwise_distances
    from tqdm.auto import tqdm

    from hmxai.explain.common import resolve_target

    if num_samples < 2:
        raise InvalidArgumentError("LIME needs num_samples >= 2")
    if precision not in ("float32", "bfloat16"):
        raise InvalidArgumentError(f"precision must be 'float32' or 'bfloat16', not {precision!r}")
    if fill != "mean" and not 0.0 <= float(fill) <= 1.0:
        raise InvalidArgumentError("fill must be 'mean' or a grey level in [0, 1]")
    task, target = resolve_target(ladder, task, target)
    start = time.perf_counter()
    params = dict(segmentation_params or {})
    segments = segment(ladder.images[:1], segmentation, **params)
    num_features = int(segments.max()) + 1
    data = sample_masks(num_samples, num_features, seed)
    pixel_on = torch.from_numpy(data.astype(bool))  # (S, F)
    distances = pairwise_distances(data, data[:1], metric="cosine").ravel()
    fast = inference_copy(task, fold=fold, probe=ladder.images[:1].float())
    rows = len(ladder)
    starts = list(range(0, num_samples, batch_size))

    def one_batch(model, index: int) -> np.ndarray:
        r, i = divmod(index, len(starts))
        i = starts[i]
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bfloat16"):
            on = pixel_on[i : i + batch_size][:, segments].unsqueeze(1)  # (b, 1, H, W)
            batch = torch.where(on, images[r], fills[r]).contiguous(memory_format=torch.channels_last)
            return torch.softmax(model(batch).float(), dim=-1)[:, target].double().numpy()

    images = [ladder.images[r : r + 1].float() for r in range(rows)]
    fills = [superpixel_fill(x, segments, fill) for x in images]
    with tqdm(total=rows * num_samples, desc="lime", unit="img", disable=not progress, leave=False) as bar:
        out = parallel_batches(one_batch, rows * len(starts), fast, workers, done=lambda p: bar.update(len(p)))
    probs = np.concatenate(out).reshape(rows, num_samples)
    weights, intercepts, scores = [], [], []
    for r in range(rows):
        base = LimeImageExplainer(kernel_width=kernel_width, random_state=seed).base
        intercept, exp, score, _ = base.explain_instance_with_data(
            data, probs[r][:, None], distances, 0, num_features, feature_selection="none")
        w = np.zeros(num_features)
        for feature, value in exp:
            w[feature] = value
        weights.append(w)
        intercepts.append(float(intercept))
        scores.append(float(score))
    weights_t = torch.from_numpy(np.stack(weights))
    params = {"seed": seed, "num_samples": num_samples, "segmentation": segmentation, **params,
              "superpixels": num_features, "fill": fill, "kernel_width": kernel_width, "precision": precision}
    return PixelExplanation(
        method="lime", target=target, target_label=task.labels[target],
        maps=weights_t[:, segments].float(), probabilities=tuple(float(p) for p in probs[:, 0]),
        seconds=time.perf_counter() - start, segments=segments, weights=weights_t,
        intercepts=tuple(intercepts), fit_scores=tuple(scores), params=tuple(params.items()),
    )
