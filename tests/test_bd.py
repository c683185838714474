"""BD metrics against a hand-computed case and the independent `bjontegaard` package."""

import math

import bjontegaard
import numpy as np
import pytest

from hmxai.bd import bd_metric, bd_rate


def test_hand_computed_constant_rate_ratio():
    """Test needs exactly half the rate at every quality: BD-rate is -50 % for both methods,
    and with quality linear in log-rate (q = 10 ln r + 40) the BD-metric is 10 ln 2 dB."""
    rates = np.array([0.1, 0.2, 0.4, 0.8, 1.6])
    quality = 10 * np.log(rates) + 40
    for method in ("cubic", "pchip"):
        assert bd_rate(rates, quality, rates / 2, quality, method) == pytest.approx(-50.0, abs=1e-9)
        assert bd_metric(rates, quality, rates / 2, quality, method) == pytest.approx(10 * math.log(2), abs=1e-9)
        assert bd_rate(rates, quality, rates, quality, method) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("method", ["cubic", "pchip"])
@pytest.mark.parametrize("seed", range(5))
def test_agrees_with_bjontegaard_package(method, seed):
    g = np.random.default_rng(seed)
    ra = np.sort(g.uniform(0.1, 2.0, 5))
    qa = np.sort(g.uniform(26, 40, 5))
    rt = ra * g.uniform(0.6, 1.1)
    qt = qa + g.uniform(-0.5, 1.0)
    assert bd_rate(ra, qa, rt, qt, method) == pytest.approx(bjontegaard.bd_rate(ra, qa, rt, qt, method=method, min_overlap=0), rel=1e-9)
    assert bd_metric(ra, qa, rt, qt, method) == pytest.approx(bjontegaard.bd_psnr(ra, qa, rt, qt, method=method, min_overlap=0), rel=1e-9)


def test_any_quality_axis_and_unsorted_input():
    rates = [0.8, 0.1, 0.4, 0.2]
    acc = [0.74, 0.52, 0.70, 0.63]
    better = [a + 0.02 for a in acc]
    assert bd_metric(rates, acc, rates, better) == pytest.approx(0.02)
    assert bd_rate(rates, acc, rates, better) < 0


def test_bad_curves_are_refused():
    with pytest.raises(ValueError, match="at least 4"):
        bd_rate([1, 2, 3], [1, 2, 3], [1, 2, 3], [1, 2, 3])
    with pytest.raises(ValueError, match="do not overlap"):
        bd_rate([1, 2, 3, 4], [10, 11, 12, 13], [1, 2, 3, 4], [20, 21, 22, 23])
    with pytest.raises(ValueError, match="positive"):
        bd_rate([0, 2, 3, 4], [1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 3, 4])
    with pytest.raises(ValueError, match="method"):
        bd_rate([1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 3, 4], "linear")
