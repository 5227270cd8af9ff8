"""Futility stopping: end a fix's replay once it can no longer be verified.

A fix is verified by its replay's *last* evaluation loss (see ``confirm``), so a replay that is behind the
baseline and cannot catch up decides nothing in its remaining steps: it is stopped there, and reported with the
loss it had and the baseline's at the same step. A replay that may still be verified runs to the end: the cost
of the analysis grows with what must be proven, not with the number of suspicions.

The test, at each evaluation point ``t`` of the replay from :data:`MIN_FRACTION` of its steps on (3/8):

1. the fix is no better than the baseline at the same step (``L_fix(t) >= L_base(t)``), and
2. even at the rate its own loss fell over its last window, kept up to the last step (an optimistic
   extrapolation: learning curves decelerate), and allowing for :data:`NOISE_Z` times the noise of the
   baseline's evaluation curve or of its own, whichever is larger, it would end above the loss that verifies
   a fix.

Its error rate is measured on the benchmark (``bench/early_stop.py``, BENCHMARKS.md): the share of stopped
replays that, run to the end, would have been verified.
"""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

#: A replay is not stopped before this share of its steps: early curves are steep and cross often. Measured on the
#: full replays of the examples and the benchmark's faulty setups (709 fix replays, ``bench/early_stop.py``): from
#: a quarter of the steps on, 8 of 160 stopped replays would have been verified at the end; from 3/8, 6 of 156;
#: from half, 6 of 150, saving 104, 84 and 63 of 706 replay seconds. None of them was the only verified fix of
#: its finding. 3/8 keeps the error count of a half and a third more of the savings.
MIN_FRACTION = 0.375

#: Margin, in units of log-loss noise (the baseline curve's or the fix's own, whichever is larger), by which the
#: extrapolated loss must miss the target. Measured as above (from 3/8 of the steps): no allowance stopped 173
#: replays, 11 wrongly (among them those that swing with the batch order, ``examples/data_order``, whose last point
#: decides their verdict); 2 sigma 160, 8 wrongly; 3 sigma 156, 6 wrongly.
NOISE_Z = 3.0


#: Set (to anything) to run every replay to its last step: how ``bench/early_stop.py`` measures the error rate of
#: futility stopping. Reports are otherwise the same, only slower.
FULL_REPLAYS_ENV = "FITDOCTOR_FULL_REPLAYS"


def enabled() -> bool:
    """Whether replays may stop early (not under :data:`FULL_REPLAYS_ENV`)."""
    return not os.environ.get(FULL_REPLAYS_ENV)


@dataclass(frozen=True)
class Futility:
    """The stopping test for fix replays measured against one baseline replay.

    Attributes:
        baseline: The baseline's evaluation loss by step.
        target: The last-step loss at or under which a fix is verified.
        steps: The replay's steps.
        noise: The baseline curve's log-loss noise (robust scale of its second differences, second half).
    """

    baseline: dict[int, float]
    target: float
    steps: int
    noise: float

    @classmethod
    def against(cls, curve: Sequence[tuple[int, float]], final: float, steps: int, share: float) -> Futility | None:
        """The test against a baseline replay that ended at ``final``; ``share`` is the improvement that verifies a
        fix. None when nothing can be stopped: a baseline that diverged or ends at a loss of zero or below (a
        fix is then verified by ending finite, or by its error rate)."""
        if not (math.isfinite(final) and final > 0):
            return None
        return cls.reaching(curve, (1.0 - share) * final, steps)

    @classmethod
    def reaching(cls, curve: Sequence[tuple[int, float]], target: float, steps: int) -> Futility | None:
        """The test for a replay that decides something only by ending at or under the loss ``target``, beside a
        baseline replay whose evaluation curve is ``curve`` (e.g. a target control: ``probes.control``). None when
        the baseline diverged or ``target`` is not a finite loss."""
        if not math.isfinite(target) or steps < 2 or not all(math.isfinite(v) for _, v in curve):
            return None
        return cls(dict(curve), target, steps, log_noise(curve, steps))

    def hopeless(self, curve: Sequence[tuple[int, float]]) -> bool:
        """Whether a fix replay whose evaluation curve so far is ``curve`` can no longer be verified."""
        if len(curve) < 2:
            return False
        (t0, before), (t, now) = curve[-2], curve[-1]
        if t >= self.steps or t < MIN_FRACTION * self.steps or t not in self.baseline:
            return False
        if not (math.isfinite(now) and now > 0 and now >= self.baseline[t]):
            return False
        rate = math.log(now / before) / (t - t0) if math.isfinite(before) and before > now and t > t0 else 0.0
        projected = math.log(now) + rate * (self.steps - t)
        # the noisier of the two curves: a fix that swings (a rate still too high) can land anywhere
        noise = max(self.noise, log_noise([p for p in curve if p[0] > 0], 0))
        return self.target <= 0 or projected - NOISE_Z * noise > math.log(self.target)


def log_noise(curve: Sequence[tuple[int, float]], steps: int) -> float:
    """The noise of an evaluation curve's log-loss from step ``steps / 2`` on: the median absolute second
    difference, scaled to a standard deviation (a smooth curve gives ~0; one that swings by batch order gives its
    swing). Fewer than three points: 0."""
    logs = [math.log(v) for s, v in curve if s >= steps / 2 and math.isfinite(v) and v > 0]
    if len(logs) < 3:
        return 0.0
    second = [abs(logs[i - 1] - 2 * logs[i] + logs[i + 1]) for i in range(1, len(logs) - 1)]
    # a second difference of i.i.d. noise has sd sqrt(6)*sigma; the median of |N(0, s)| is 0.6745 s
    return statistics.median(second) / (0.6745 * math.sqrt(6.0))
