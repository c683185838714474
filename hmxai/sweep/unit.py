"""One unit of a sweep: an image under one codec at one quality, as rows (one per task).

``compute_unit(unit) -> list of row dicts`` is what every executor runs (this process, a
local worker process, a Dask worker). It consumes :func:`hmxai.decode` (the one rung) and
:func:`hmxai.pipeline.predict_rung`; models are built once per process and kept.

A unit never raises for its image: an unreadable image, a codec that refuses it, or a failing
task become rows with ``status = "error"`` and the message in ``error``.
"""

from __future__ import annotations

import hashlib
import math
import platform
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Tuple

from hmxai.sweep.config import TaskSpec

#: columns that change from run to run (times, host); everything else is a function of the config
VOLATILE = ("created", "host", "encode_seconds", "decode_seconds", "unit_seconds")


@dataclass(frozen=True)
class Unit:
    """What one unit computes. ``source``: a file path or ``sample:<name>``; ``data``: the file's
    bytes when the client read them (Dask workers need no shared file system), else None."""

    dataset: str
    image: str
    source: str
    label: Optional[int]
    codec: str
    quality: float
    tasks: Tuple[TaskSpec, ...]
    explanations: Tuple[str, ...]
    seed: int
    max_side: Optional[int]
    sweep_digest: str
    data: Optional[bytes] = None

    @property
    def key(self) -> str:
        return unit_key(self.dataset, self.image, self.codec, self.quality)


def unit_key(dataset: str, image: str, codec: str, quality: float) -> str:
    return f"{dataset}/{image}/{codec}/{float(quality)!r}"


# ------------------------------------------------------------------ per-process model caches
_LOCK = threading.RLock()
_CODECS: Dict[Tuple[str, float], Any] = {}
_TASKS: Dict[TaskSpec, Any] = {}
_TASK_IDS: Dict[TaskSpec, str] = {}
_ORIGINALS: "OrderedDict[Tuple[str, str], Any]" = OrderedDict()


def _codec(name: str, quality: float):
    from hmxai.codecs import create_codec

    with _LOCK:
        key = (name, float(quality))
        if key not in _CODECS:
            _CODECS[key] = create_codec(name, quality=quality)
        return _CODECS[key]


def _task(spec: TaskSpec):
    from hmxai.fingerprint import fingerprint
    from hmxai.tasks import create_task

    with _LOCK:
        if spec not in _TASKS:
            task = create_task(spec.name, **spec.kwargs())
            _TASKS[spec] = task
            _TASK_IDS[spec] = fingerprint(task)
        return _TASKS[spec], _TASK_IDS[spec]


def _original(image_sha: str, spec: TaskSpec, task, x):
    """The task's top-5 on the original image, kept for the next units of the same image."""
    key = (image_sha, spec.key)
    with _LOCK:
        if key in _ORIGINALS:
            _ORIGINALS.move_to_end(key)
            return _ORIGINALS[key]
    pred = task.predict(x, k=5)[0]
    with _LOCK:
        _ORIGINALS[key] = pred
        while len(_ORIGINALS) > 64:
            _ORIGINALS.popitem(last=False)
    return pred


def clear_caches() -> None:
    with _LOCK:
        _CODECS.clear()
        _TASKS.clear()
        _TASK_IDS.clear()
        _ORIGINALS.clear()


# ------------------------------------------------------------------ the unit
def _image(unit: Unit):
    """(x, sha256 of the source bytes): the image as (1, 3, H, W) in [0, 1]."""
    from pathlib import Path

    from hmxai.images import fit_within, load_image

    if unit.source.startswith("sample:"):
        from hmxai.samples import sample_image

        x = sample_image(unit.source[len("sample:"):])
        sha = hashlib.sha256(x.numpy().tobytes()).hexdigest()
    else:
        data = unit.data if unit.data is not None else Path(unit.source).read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        x = load_image(data)
    return fit_within(x, unit.max_side), sha


def _provenance(unit: Unit) -> Dict[str, Any]:
    from hmxai.sweep.provenance import versions_json

    return {"seed": unit.seed, "sweep_digest": unit.sweep_digest, "versions": versions_json(),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "host": platform.node()}


def _base(unit: Unit, task_key: str) -> Dict[str, Any]:
    return {"dataset": unit.dataset, "image": unit.image, "codec": unit.codec, "quality": float(unit.quality),
            "task": task_key, "label": unit.label}


def error_rows(unit: Unit, message: str, image_sha: Optional[str] = None) -> List[Dict[str, Any]]:
    """The rows of a unit that failed: one per task, every metric missing."""
    keys = [t.key for t in unit.tasks] or [""]
    prov = _provenance(unit)
    return [{**_base(unit, k), "status": "error", "error": message[:2000], "image_sha256": image_sha, **prov}
            for k in keys]


def compute_unit(unit: Unit) -> List[Dict[str, Any]]:
    """Rows of one unit (see the module docstring); deterministic for a given unit and machine."""
    import torch

    from hmxai.errors import HmxaiError

    t0 = time.perf_counter()
    torch.manual_seed(unit.seed)
    sha = None
    try:
        x, sha = _image(unit)
        rows = _rows(unit, x, sha)
    except (HmxaiError, OSError, ValueError, RuntimeError) as exc:  # the image's fault, or a model refusing it
        return error_rows(unit, f"{type(exc).__name__}: {exc}", sha)
    seconds = time.perf_counter() - t0
    for row in rows:
        row["unit_seconds"] = seconds
    return rows


def _rows(unit: Unit, x, sha: str) -> List[Dict[str, Any]]:
    from hmxai.pipeline import decode

    codec = _codec(unit.codec, unit.quality)
    rung = decode(x, codec)
    m = rung.metrics
    common = {
        "status": "ok", "error": None,
        "measured_bpp": m.measured_bpp, "estimated_bpp": m.estimated_bpp,
        "psnr": m.psnr if math.isfinite(m.psnr) else None, "ms_ssim": m.ms_ssim,
        "payload_bytes": len(rung.encoded.payload), "file_bytes": rung.encoded.file_bytes,
        "height": int(x.shape[-2]), "width": int(x.shape[-1]),
        "encode_seconds": rung.encode_seconds, "decode_seconds": rung.decode_seconds,
        "codec_weights": rung.weights, "codec_weights_id": rung.weights_id, "image_sha256": sha,
        **_provenance(unit),
    }
    if not unit.tasks:
        return [{**_base(unit, ""), **common}]
    rows = []
    for spec in unit.tasks:
        task, task_id = _task(spec)
        original = _original(sha, spec, task, x)
        predicted, energy = _predict(task, rung)
        p = predicted.prediction
        row = {**_base(unit, spec.key), **common,
               "top1": p.indices[0], "top1_label": p.labels[0], "top1_probability": p.probabilities[0],
               "top5": list(p.indices), "original_top1": original.indices[0],
               "original_top1_probability": original.probabilities[0],
               "agreement": p.indices[0] == original.indices[0],
               "accuracy": None if unit.label is None else p.indices[0] == unit.label,
               "original_accuracy": None if unit.label is None else original.indices[0] == unit.label,
               "task_weights": task.weights, "task_weights_id": task_id}
        row.update(energy)
        row.update(_explanations(unit, x, codec, task, predicted, original))
        rows.append(row)
    return rows


def _predict(task, rung):
    """(rung with the task's top-5, energy columns). A spiking task runs once, recorded: its
    logits give the prediction and its counts the spikes and energy."""
    from dataclasses import replace

    from hmxai.pipeline import predict_rung
    from hmxai.spiking.energy import is_spiking, measure_task

    if not is_spiking(task):
        return predict_rung(rung, task), {}
    logits, reports, _ = measure_task(task, rung.x_hat)
    r = reports[0]
    return (replace(rung, prediction=task.top_k(logits, k=5)[0]),
            {"spikes": float(r.spikes), "snn_energy_joules": float(r.energy_j), "ann_energy_joules": float(r.ann_energy_j)})


def _explanations(unit: Unit, x, codec, task, rung, original) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    if "drift" in unit.explanations and task.target_layer is not None:
        from hmxai.explain.ladder import ladder_of
        from hmxai.explain.pixels import drift, explain_pixels

        ladder = ladder_of(x, [rung], [original, rung.prediction], task.name)
        d = drift(ladder, explain_pixels(ladder, "grad-cam", task))[0]
        out.update(drift_spearman=d.spearman, drift_top_iou=d.top_iou)
    if "bit_budget" in unit.explanations and codec.has_latent:
        from hmxai.explain.budget import bit_budget
        from hmxai.explain.channels import channel_scores

        scores = channel_scores(x, codec, task, method="input-x-gradient", latent=rung)
        shares = bit_budget(scores).fractions
        out.update({f"budget_{k}": v for k, v in shares.items()}, budget_method="input-x-gradient")
    return out
