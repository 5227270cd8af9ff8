"""Is a loss curve going down? A trend test on block means, not one number."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats


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
        result = stats.kendalltau(np.arange(finite.size), finite, alternative="less")
        tau, p = float(result.statistic), float(result.pvalue)
    return Trend(int(finite.size), block, start, end, rel, tau, p)


def block_size(batch_ids: Sequence[int]) -> int:
    """Steps per trend point: one pass over the distinct batches when the loop cycles through a few
    (a per-sample or full-batch loop), else a twentieth of the run."""
    n = len(batch_ids)
    distinct = len(set(batch_ids))
    if distinct and distinct * 5 <= n:
        return distinct
    return max(1, n // 20)
