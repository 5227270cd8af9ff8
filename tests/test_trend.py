"""The trend test's Kendall statistic against SciPy's reference implementation, over series with and
without ties, short (exact p-value) and long (normal approximation)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from fitdoctor.probes.trend import EXACT_MAX_POINTS, kendall_decreasing, loss_trend


def _series(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 90))
    kind = seed % 4
    if kind == 0:
        return rng.normal(size=n)
    if kind == 1:  # a falling loss with noise
        return np.exp(-np.arange(n) / 20) + 0.05 * rng.normal(size=n)
    if kind == 2:  # ties: a loss that plateaus on rounded values
        return np.round(rng.normal(size=n), 1)
    return -np.arange(n, dtype=float) + (rng.random(n) < 0.05)  # nearly monotone (one pair from the extreme)


@pytest.mark.parametrize("seed", range(400))
def test_matches_scipy(seed: int) -> None:
    values = _series(seed)
    if np.ptp(values) == 0:
        pytest.skip("constant series: loss_trend answers without the test")
    reference = stats.kendalltau(np.arange(values.size), values, alternative="less")
    tau, p = kendall_decreasing(values)
    assert tau == pytest.approx(float(reference.statistic), rel=1e-12, abs=1e-15)
    assert p == pytest.approx(float(reference.pvalue), rel=1e-9, abs=1e-300)


def test_both_p_value_methods_are_exercised() -> None:
    sizes = {_series(seed).size for seed in range(400)}
    assert min(sizes) <= EXACT_MAX_POINTS < max(sizes)


def test_a_falling_curve_has_a_significant_trend() -> None:
    trend = loss_trend([1.0 / (1 + i) for i in range(40)])
    assert trend is not None and trend.tau == -1.0 and trend.p_value < 1e-10
