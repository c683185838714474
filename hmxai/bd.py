"""Bjøntegaard-delta metrics: BD-rate and BD-metric, for any quality axis.

``bd_rate(anchor, test)`` is the average rate difference (%) of ``test``
against ``anchor`` at equal quality; negative means ``test`` needs fewer
bits. ``bd_metric(anchor, test)`` is the average quality difference at equal
rate (dB for PSNR, points for accuracy). The quality axis can be anything
that increases with rate: PSNR, MS-SSIM (in dB or not), accuracy, mAP.

Methods:

* ``"cubic"`` — Bjøntegaard's original VCEG-M33 (2001): a cubic polynomial
  fitted to (quality, log rate), integrated over the overlapping interval;
* ``"pchip"`` — the piecewise-cubic Hermite variant (VCEG-AL22 / the
  common test conditions' spreadsheet), exact through every point and free
  of the overshoots of a global cubic.

Each curve needs at least 4 points for ``cubic`` (2 for ``pchip``);
points are sorted by rate. Curves that do not overlap on the integration
axis raise ``ValueError``.
"""

from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np

from hmxai.errors import InvalidArgumentError

METHODS = ("cubic", "pchip")


def _prepare(rate: Sequence[float], quality: Sequence[float], method: str) -> Tuple[np.ndarray, np.ndarray]:
    r = np.asarray(rate, dtype=np.float64)
    q = np.asarray(quality, dtype=np.float64)
    if r.shape != q.shape or r.ndim != 1:
        raise InvalidArgumentError("rate and quality must be 1-D sequences of the same length")
    if method not in METHODS:
        raise InvalidArgumentError(f"method must be one of {METHODS}, got {method!r}")
    need = 4 if method == "cubic" else 2
    if len(r) < need:
        raise InvalidArgumentError(f"{method} needs at least {need} points per curve, got {len(r)}")
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(q)) and np.all(r > 0)):
        raise InvalidArgumentError("rates must be positive and all values finite")
    order = np.argsort(r)
    return np.log(r[order]), q[order]


def _integral(x: np.ndarray, y: np.ndarray, lo: float, hi: float, method: str) -> float:
    """Integral over [lo, hi] of y as a function of x (x need not be sorted for cubic)."""
    if method == "cubic":
        poly = np.polyint(np.polyfit(x, y, 3))
        return float(np.polyval(poly, hi) - np.polyval(poly, lo))
    from scipy.interpolate import PchipInterpolator

    order = np.argsort(x)
    xs, ys = x[order], y[order]
    if np.any(np.diff(xs) <= 0):
        raise InvalidArgumentError("pchip needs strictly monotonic points on the integration axis")
    return float(PchipInterpolator(xs, ys).integrate(lo, hi))


def _overlap(a: np.ndarray, b: np.ndarray) -> Tuple[float, float]:
    lo, hi = max(a.min(), b.min()), min(a.max(), b.max())
    if hi <= lo:
        raise InvalidArgumentError("the two curves do not overlap: BD metrics are undefined")
    return float(lo), float(hi)


def _both(anchor_rate, anchor_quality, test_rate, test_quality, method):
    return (*_prepare(anchor_rate, anchor_quality, method), *_prepare(test_rate, test_quality, method))


def bd_rate(
    anchor_rate: Sequence[float],
    anchor_quality: Sequence[float],
    test_rate: Sequence[float],
    test_quality: Sequence[float],
    method: str = "cubic",
) -> float:
    """Average rate difference of test vs anchor at equal quality, in percent."""
    la, qa, lt, qt = _both(anchor_rate, anchor_quality, test_rate, test_quality, method)
    lo, hi = _overlap(qa, qt)
    avg = (_integral(qt, lt, lo, hi, method) - _integral(qa, la, lo, hi, method)) / (hi - lo)
    return float((np.exp(avg) - 1.0) * 100.0)


def bd_metric(
    anchor_rate: Sequence[float],
    anchor_quality: Sequence[float],
    test_rate: Sequence[float],
    test_quality: Sequence[float],
    method: str = "cubic",
) -> float:
    """Average quality difference of test vs anchor at equal rate (quality units)."""
    la, qa, lt, qt = _both(anchor_rate, anchor_quality, test_rate, test_quality, method)
    lo, hi = _overlap(la, lt)
    return float((_integral(lt, qt, lo, hi, method) - _integral(la, qa, lo, hi, method)) / (hi - lo))
