"""When the capture has seen enough of the user's training: a number of steps, a time limit, and a target
for slow steps (torch-free: the CLI's parent process reads the defaults)."""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Seconds of the user's training the capture aims at when the steps are slow (issue 15: a check costs a
#: fraction of the run it saves). The default 200 steps take 0.5-1.5 s on the examples and bench/realistic's MLP,
#: so they are captured whole; a CNN, an LSTM, a GRU or a Transformer whose step takes 25-70 ms spends 5-14 s on
#: them, most of a 400-600-step run. Past this target the capture ends at the next step, once it holds
#: :data:`MIN_CAPTURE_STEPS` (the analysis then plans from the step cost it measured, see ``fitdoctor.effort``).
CAPTURE_TARGET_S = 3.0
#: Steps the capture keeps at least before it stops on :data:`CAPTURE_TARGET_S`: the user's own curve must have
#: enough blocks for its trend (``probes.trend``: 10 blocks of at least 5 steps) and a sorted or misaligned
#: dataset enough batches to show it (FD104 and FD105 compare batch statistics).
MIN_CAPTURE_STEPS = 50
#: How :meth:`CaptureBudget.reached` names a stop on the capture target.
TARGET_REASON = "capture target"


@dataclass(frozen=True)
class CaptureBudget:
    """When the capture has seen enough of the user's training.

    Attributes:
        max_steps: Stop after this many optimizer steps (``--steps``).
        seconds: Stop after this many seconds since the capture began (``--time-budget``; at least one step).
        target_s: Stop once the steps took this long since the first (a slow step), if ``min_steps`` are
            captured; infinite when the user asked for a number of steps.
        min_steps: Steps kept at least before ``target_s`` applies.
    """

    max_steps: int
    seconds: float = math.inf
    target_s: float = math.inf
    min_steps: int = MIN_CAPTURE_STEPS

    def reached(self, steps: int, since_start: float, since_first_step: float) -> str | None:
        """Why the capture stops after this step (None: it goes on)."""
        if steps >= self.max_steps:
            return f"step budget of {self.max_steps} steps reached"
        if since_start > self.seconds:
            return f"time budget of {self.seconds:g} s reached after {steps} steps"
        if steps >= self.min_steps and since_first_step >= self.target_s:
            return f"{TARGET_REASON} of {self.target_s:g} s reached after {steps} steps"
        return None
