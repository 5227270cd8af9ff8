"""When the capture has seen enough of the user's training: a number of steps, a time limit, and a target
for slow steps (torch-free: the CLI's parent process reads the defaults)."""

from __future__ import annotations

import math
from dataclasses import dataclass

#: CPU seconds of the user's training the capture aims at when the steps are slow (issue 15: a check costs a
#: fraction of the run it saves). The default 200 steps take 0.5-1.5 s on the examples and bench/realistic's MLP,
#: so they are captured whole; a CNN, an LSTM, a GRU or a Transformer whose step takes 25-70 ms spends 5-14 s on
#: them, most of a 400-600-step run. CPU time, not wall time: what the analysis will cost is the steps'
#: compute, and a machine busy with other work slows the wall clock, not the CPU seconds a step needs, so the
#: same script captures the same steps there (a loop that waits for its data is not cut: the replays don't wait).
CAPTURE_TARGET_S = 3.0
#: The capture stops on :data:`CAPTURE_TARGET_S` only at a multiple of this many steps (50, 100, 150), so that
#: a step cost near the target gives the same capture on a slower or busier machine, not one step fewer. The
#: user's own curve then has enough blocks for its trend (``probes.trend``: 10 blocks of at least 5 steps) and a
#: sorted or misaligned dataset enough batches to show it (FD104 and FD105 compare batch statistics).
MIN_CAPTURE_STEPS = 50
#: How :meth:`CaptureBudget.reached` names a stop on the capture target.
TARGET_REASON = "capture target"


@dataclass(frozen=True)
class CaptureBudget:
    """When the capture has seen enough of the user's training.

    Attributes:
        max_steps: Stop after this many optimizer steps (``--steps``).
        seconds: Stop after this many seconds since the capture began (``--time-budget``; at least one step).
        target_s: Stop once the steps took this many CPU seconds since the first (a slow step), at a multiple
            of ``min_steps``; infinite when the user asked for a number of steps.
        min_steps: The target stops the capture only after a multiple of this many steps.
    """

    max_steps: int
    seconds: float = math.inf
    target_s: float = math.inf
    min_steps: int = MIN_CAPTURE_STEPS

    def reached(self, steps: int, since_start: float, cpu_since_first_step: float) -> str | None:
        """Why the capture stops after this step (None: it goes on).

        Args:
            steps: Steps captured, this one included.
            since_start: Wall seconds since the capture began.
            cpu_since_first_step: CPU seconds of the process since the first step ended.
        """
        if steps >= self.max_steps:
            return f"step budget of {self.max_steps} steps reached"
        if since_start > self.seconds:
            return f"time budget of {self.seconds:g} s reached after {steps} steps"
        if steps % self.min_steps == 0 and cpu_since_first_step >= self.target_s:
            return f"{TARGET_REASON} of {self.target_s:g} s of CPU time reached after {steps} steps"
        return None
