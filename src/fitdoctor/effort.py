"""How much analysis a model can afford: its measured step cost against a time budget.

A small model gets the full analysis (the defaults below). A model whose training step takes long on this
machine (a transformer of 100M parameters on a CPU takes about a second per step) would need an hour for it,
so the analysis is scaled down to fit the budget instead: fewer batches for probes and evaluation, shorter
replays, a shorter learning-rate range test, and the overfit-one-batch check dropped last. The report says
so in a note; a finding that a short replay cannot confirm stays unconfirmed (severity info), as always.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import torch

from fitdoctor.replay import evaluate
from fitdoctor.training import Plan, PlannedModel, TrainingSetup, fresh_model, make_optimizers, train_step

#: Seconds the analysis aims to stay within by default (the CLI's hard limit is 240 s past the capture).
DEFAULT_SECONDS = 120.0
#: Fix replays assumed when estimating the cost up front (a typical broken script proposes 2-4).
ASSUMED_FIXES = 4
#: Evaluation points per replay curve by default (``training.replay``'s ``points``).
EVAL_POINTS = 24
MIN_EVAL_POINTS = 4
#: Batches the learning-rate range test evaluates after every step (``probes.lr_range.PROBE_BATCHES``).
RANGE_EVAL_BATCHES = 8
#: A replay step costs more than a bare training step: it also takes the gradient norm every step and the
#: update ratio (a copy of the weights) every 10th. Measured 1.7 s against 0.93 s on a 100M-parameter MLP.
REPLAY_STEP_FACTOR = 1.8
#: Extra timed steps (and forwards) whose fastest gives the cost, within about this many seconds.
REPEATS = 5
REPEAT_SECONDS = 1.0
#: Floors below which a scaled-down analysis would say nothing useful.
MIN_BATCHES = 4
MIN_REPLAY_STEPS = 20
MIN_RANGE_STEPS = 20


@dataclass(frozen=True)
class Effort:
    """What the analysis runs.

    Attributes:
        replay_steps: Optimizer steps of the baseline and of every fix replay.
        probe_batches: Most batches used for probes and for the replays' evaluation loss.
        grad_batches: Most batches used for the gradient probe.
        range_steps: Steps of the learning-rate range test (0: skipped).
        overfit: Whether the overfit-one-batch check runs.
        points: Evaluation points per replay curve.
        step_s: Measured seconds of one training step (None when not measured).
        forward_s: Measured seconds of one forward pass without gradients.
        start_s: Measured seconds to start a run: copy the model, build the optimizer, and the first
            step's one-off allocations (gradients, optimizer state). Large models pay it per replay.
        scaled: Whether the defaults were scaled down to fit the budget.
    """

    replay_steps: int
    probe_batches: int
    grad_batches: int
    range_steps: int
    overfit: bool
    points: int = EVAL_POINTS
    step_s: float | None = None
    forward_s: float | None = None
    start_s: float = 0.0
    scaled: bool = False

    def estimate(self, step_s: float, forward_s: float, overfit_steps: int, overfit_runs: int) -> float:
        """Seconds this effort should take, from the measured costs."""
        start = self.start_s
        probes = start + 2 * (3 * self.probe_batches * forward_s + self.grad_batches * step_s)
        one_replay = (
            start + self.replay_steps * step_s * REPLAY_STEP_FACTOR + (self.points + 1) * self.probe_batches * forward_s
        )
        replays = (1 + ASSUMED_FIXES) * one_replay
        range_test = start + self.range_steps * (step_s + RANGE_EVAL_BATCHES * forward_s) if self.range_steps else 0.0
        overfit = overfit_runs * (start + overfit_steps * step_s) if self.overfit else 0.0
        return probes + replays + range_test + overfit

    def note(self, defaults: Effort, seconds: float) -> str | None:
        """What was scaled down and why, for the report (None when nothing was)."""
        if not self.scaled or self.step_s is None:
            return None
        parts = [
            f"replays of {self.replay_steps} steps (not {defaults.replay_steps})",
            f"probes and evaluation on {self.probe_batches} batches (not up to {defaults.probe_batches})",
        ]
        if self.range_steps == 0 and defaults.range_steps:
            parts.append("no learning-rate range test")
        elif self.range_steps < defaults.range_steps:
            parts.append(f"a learning-rate range test of {self.range_steps} steps (not {defaults.range_steps})")
        if not self.overfit and defaults.overfit:
            parts.append("no overfit-one-batch check")
        return (
            f"large for this machine: one training step takes {self.step_s:.2f} s, so the analysis was scaled "
            f"down (aiming at {seconds:.0f} s): {', '.join(parts)}; a finding a short replay can't confirm stays "
            "unconfirmed (info)"
        )


def measure_step(setup: TrainingSetup) -> tuple[float, float, float]:
    """Seconds of one training step, of one forward pass, and of starting a run, on the first batch.

    The second of two steps is timed: the first pays one-off costs (allocations, lazy initialisation).
    A setup whose step fails here reports zero costs: the analysis then runs in full and meets the
    failure where it already knows how to report it.
    """
    try:
        return _measure_step(setup)
    except Exception:
        return 0.0, 0.0, 0.0


def _measure_step(setup: TrainingSetup) -> tuple[float, float, float]:
    torch.manual_seed(setup.seed)
    started = time.perf_counter()
    model = PlannedModel(fresh_model(setup), Plan())
    optimizers = make_optimizers(setup, model.inner)
    copy_s = time.perf_counter() - started
    batch = setup.batches[0]
    times = []
    for _ in range(2):
        started = time.perf_counter()
        train_step(model, setup, optimizers, [batch])
        times.append(time.perf_counter() - started)
    first_s, step_s = times
    # One stall of a busy machine (another process, a page fault) in a single timed step once scaled a tiny
    # model's whole analysis down: the cost is the fastest of a few more steps and forwards (timeit's reasoning:
    # slower runs measure interference, not the code), timed on a forked RNG so the analysis draws the same numbers.
    forwards = []
    with torch.random.fork_rng(devices=[]):
        spent = 0.0
        for _ in range(REPEATS):
            if spent > REPEAT_SECONDS:
                break
            started = time.perf_counter()
            evaluate(model, setup, [batch])
            forwards.append(time.perf_counter() - started)
            started = time.perf_counter()
            train_step(model, setup, optimizers, [batch])
            elapsed = time.perf_counter() - started
            step_s, spent = min(step_s, elapsed), spent + elapsed + forwards[-1]
    return step_s, min(forwards), copy_s + max(0.0, first_s - step_s)


def plan_effort(
    defaults: Effort,
    step_s: float,
    forward_s: float,
    seconds: float,
    overfit_steps: int,
    overfit_runs: int,
    start_s: float = 0.0,
) -> Effort:
    """The defaults if they fit ``seconds``; otherwise a scaled-down effort that does (or the floor)."""
    measured = replace(defaults, step_s=step_s, forward_s=forward_s, start_s=start_s)
    full = measured.estimate(step_s, forward_s, overfit_steps, overfit_runs)
    if full <= seconds:
        return measured
    share = seconds / full
    batches = max(MIN_BATCHES, min(defaults.probe_batches, int(defaults.probe_batches * share)))
    effort = Effort(
        replay_steps=max(MIN_REPLAY_STEPS, min(defaults.replay_steps, int(defaults.replay_steps * share))),
        probe_batches=batches,
        grad_batches=max(1, min(defaults.grad_batches, batches // 2)),
        # A probe the selected rules did not ask for (0 steps) stays off when the rest is scaled down.
        range_steps=max(MIN_RANGE_STEPS, min(defaults.range_steps, int(defaults.range_steps * share)))
        if defaults.range_steps
        else 0,
        overfit=defaults.overfit,
        points=max(MIN_EVAL_POINTS, min(defaults.points, int(defaults.points * share))),
        step_s=step_s,
        forward_s=forward_s,
        start_s=start_s,
        scaled=True,
    )
    # Still over at the floors: drop the overfit check, then the range test.
    if effort.estimate(step_s, forward_s, overfit_steps, overfit_runs) > seconds:
        effort = replace(effort, overfit=False)
    if effort.estimate(step_s, forward_s, overfit_steps, overfit_runs) > seconds:
        effort = replace(effort, range_steps=0)
    return effort
