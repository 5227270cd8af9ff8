"""Is a loss curve going down? A trend test on block means, not one number."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Trend:
    """How a loss curve moved.

    Attributes:
        points: Points the test used (block means for a per-step curve).
        block: Steps per point.
        start: Median of the first 20 % of points.
        end: Median of the last 20 %.
        relative_decrease: 1 - end / start (negative when it rose).
        tau: Kendall's tau between step and loss.
        p_value: One-sided p-value of a decreasing trend.
    """

    points: int
    block: int
    start: float
    end: float
    relative_decrease: float
    tau: float
    p_value: float


def block_means(values: Sequence[float], block: int) -> list[float]:
    """Means over consecutive blocks of ``block`` finite values (the last partial block dropped)."""
    finite = [v for v in values if math.isfinite(v)]
    if block <= 1:
        return finite
    n = len(finite) // block
    return [float(np.mean(finite[i * block : (i + 1) * block])) for i in range(n)]


def loss_trend(values: Sequence[float], block: int = 1) -> Trend | None:
    """The trend of a loss curve, averaged over blocks of ``block`` steps first (one pass over the
    data in a per-sample loop): per-batch losses are too noisy to compare step by step.

    Returns None when fewer than 10 points remain.
    """
    finite = np.array(block_means(values, block), dtype=float)
    if finite.size < 10:
        return None
    k = max(2, finite.size // 5)
    start = float(np.median(finite[:k]))
    end = float(np.median(finite[-k:]))
    rel = 1.0 - end / start if start > 0 else 0.0
    if np.ptp(finite) == 0:
        tau, p = 0.0, 1.0
    else:
        tau, p = kendall_decreasing(finite)
    return Trend(int(finite.size), block, start, end, rel, tau, p)


#: Largest series whose p-value is exact (no ties): above it the normal approximation is used. The same
#: choice as ``scipy.stats.kendalltau(method="auto")``, which these numbers reproduce (tested against it).
EXACT_MAX_POINTS = 33


def kendall_decreasing(values: np.ndarray) -> tuple[float, float]:
    """Kendall's tau-b between step and value, and the one-sided p-value of a decreasing trend.

    The steps have no ties, so with C concordant and D discordant pairs among the T = n(n-1)/2 pairs and
    U pairs of equal values, tau-b = (C - D) / sqrt(T (T - U)) (Kendall, *Rank Correlation Methods*, 1970).
    Without ties and for at most :data:`EXACT_MAX_POINTS` points (or one pair from either extreme) the
    p-value is exact: under no trend C is distributed as the inversions of a random permutation. Otherwise
    C - D is taken as normal with variance (n(n-1)(2n+5) - sum t(t-1)(2t+5)) / 18 over tie groups of size t.

    Args:
        values: A finite series, not constant, of at least two points.
    """
    n = int(values.size)
    order = np.sign(values[None, :] - values[:, None])[np.triu_indices(n, 1)]
    concordant = int((order > 0).sum())
    discordant = int((order < 0).sum())
    total = n * (n - 1) // 2
    tied = total - concordant - discordant
    tau = (concordant - discordant) / math.sqrt(total) / math.sqrt(total - tied)
    tau = min(1.0, max(-1.0, tau))
    if tied == 0 and (n <= EXACT_MAX_POINTS or min(discordant, concordant) <= 1):
        return tau, _inversions_cdf(n, concordant)
    _, counts = np.unique(values, return_counts=True)
    groups = counts[counts > 1].astype(float)
    pairs = n * (n - 1.0)
    variance = (pairs * (2 * n + 5) - float((groups * (groups - 1) * (2 * groups + 5)).sum())) / 18
    z = (concordant - discordant) / math.sqrt(variance)
    return tau, 0.5 * math.erfc(-z / math.sqrt(2))


def _inversions_cdf(n: int, c: int) -> float:
    """P(X <= c) for X the inversions of a uniformly random permutation of n items (Mahonian numbers,
    counted exactly in integers from the smaller tail; the distribution is symmetric about T/2)."""
    total = n * (n - 1) // 2
    if c >= total:
        return 1.0
    upper = c > total - c - 1
    k = total - c - 1 if upper else c
    counts = [1] + [0] * k  # permutations of 1 item by inversions, up to k
    for m in range(2, n + 1):
        cumulative = list(itertools.accumulate(counts))
        counts = [cumulative[j] - (cumulative[j - m] if j >= m else 0) for j in range(k + 1)]
    tail = sum(counts) / math.factorial(n)
    return 1.0 - tail if upper else tail


def block_size(batch_ids: Sequence[int]) -> int:
    """Steps per trend point: one pass over the distinct batches when the loop cycles through a few
    (a per-sample or full-batch loop), else a twentieth of the run."""
    n = len(batch_ids)
    distinct = len(set(batch_ids))
    if distinct and distinct * 5 <= n:
        return distinct
    return max(1, n // 20)
