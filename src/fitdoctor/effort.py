"""How much analysis a model can afford: its measured step cost against a time budget.

A small model gets the full analysis (the defaults below). A model whose training step takes long on this
machine (a transformer of 100M parameters on a CPU takes about a second per step) would need an hour for it,
so the analysis is scaled down to fit the budget instead: fewer batches for probes and evaluation, shorter
replays, a shorter learning-rate range test, and the overfit-one-batch check dropped last. The report says
so in a note; a finding that a short replay cannot confirm stays unconfirmed (severity info), as always.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import torch

from fitdoctor.replay import evaluate
from fitdoctor.training import Plan, PlannedModel, TrainingSetup, fresh_model, make_optimizers, train_step

#: Seconds the analysis aims to stay within at most (the CLI's hard limit is 240 s past the capture).
DEFAULT_SECONDS = 120.0
#: The analysis aims at this multiple of the time the user's captured steps took: a check should cost a
#: fraction of the run it saves, and the captured steps are a fraction of that run (issue 15).
CAPTURE_MULTIPLE = 1.0
#: ... but never below this many seconds: below it, the analysis of a small model (a baseline replay of 400
#: steps, the range test, the overfit check: estimated 0.1-3.8 s for the bench's setups, 1-5 s for the examples,
#: on an idle machine) would be cut for a saving the user can't notice next to the 1.5-2 s it takes to start
#: Python and torch. The margin is for load: the estimate grows with it, and at a 5 s floor a loaded benchmark run
#: (load 3.5 on 2 cores) scaled one setup's evaluation down and turned a borderline fix into a verified one.
FLOOR_SECONDS = 10.0
#: The floor when the capture stopped on its target because the user's steps are slow
#: (``capture.budget.CAPTURE_TARGET_S``): :data:`FLOOR_SECONDS` is for small models, whose whole analysis fits
#: in it; a slow step makes every part of the analysis long, so it aims at the capture's own time instead.
SLOW_FLOOR_SECONDS = 4.0
#: When the analysis must be scaled down, evaluation batches go first, down to this many: the replays'
#: evaluation costs (points + 1) forward passes over every batch, as much as their training on a CNN.
MIN_EVAL_BATCHES = 16
#: Fix replays the plan assumes: none. The budget plans the probes and the baseline replay; the fix replays,
#: as long as the baseline, get the same budget again once their number is known (a healthy script proposes
#: none; the broken examples 1-5), and those that would start past it are skipped and said so.
ASSUMED_FIXES = 0
#: Seconds the fix replays get at least, whatever the budget: a small model's replay takes about a second, and
#: the broken examples propose up to 6 fixes; a fix that isn't replayed can't be verified.
MIN_FIX_SECONDS = 20.0
#: Overfit runs the plan assumes: a model that can memorise is decided within its first run (the check stops
#: there: at step 0-250 of 300, median about 60, on the examples); only one that can't pays for all four.
ASSUMED_OVERFIT_RUNS = 0.5
#: Evaluation points per replay curve by default (``training.replay``'s ``points``).
EVAL_POINTS = 24
MIN_EVAL_POINTS = 4
#: Batches the learning-rate range test evaluates after every step (``probes.lr_range.PROBE_BATCHES``).
RANGE_EVAL_BATCHES = 8
#: A replay step costs more than a bare training step: it also takes the gradient norm every step and the
#: update ratio (a copy of the weights) every 10th. Measured 1.7 s against 0.93 s on a 100M-parameter MLP,
#: where those passes over the weights weigh most; 0.8-1.2x on the CNN, GRU and MLPs of bench/realistic.
REPLAY_STEP_FACTOR = 1.2
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
        parallel: Whether the range test and the overfit check run beside the baseline replay, in a
            forked worker (``fitdoctor.parallel``): they then cost the longer of the two, not the sum.
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
    parallel: bool = False

    def estimate(self, step_s: float, forward_s: float, overfit_steps: int, overfit_runs: float) -> float:
        """Seconds this effort should take, from the measured costs."""
        start = self.start_s
        probes = start + 2 * (3 * self.probe_batches * forward_s + self.grad_batches * step_s)
        one_replay = (
            start + self.replay_steps * step_s * REPLAY_STEP_FACTOR + (self.points + 1) * self.probe_batches * forward_s
        )
        replays = (1 + ASSUMED_FIXES) * one_replay
        range_test = start + self.range_steps * (step_s + RANGE_EVAL_BATCHES * forward_s) if self.range_steps else 0.0
        overfit = overfit_runs * (start + overfit_steps * step_s) if self.overfit else 0.0
        if self.parallel:
            return probes + ASSUMED_FIXES * one_replay + max(one_replay, range_test + overfit)
        return probes + replays + range_test + overfit

    def note(self, defaults: Effort, seconds: float) -> str | None:
        """What was scaled down and why, for the report (None when nothing was)."""
        if not self.scaled or self.step_s is None:
            return None
        parts = []
        if self.replay_steps < defaults.replay_steps:
            parts.append(f"replays of {self.replay_steps} steps (not {defaults.replay_steps})")
        if self.points < defaults.points:
            parts.append(f"{self.points} evaluation points per replay (not {defaults.points})")
        if self.probe_batches < defaults.probe_batches:
            parts.append(f"probes and evaluation on {self.probe_batches} batches (not up to {defaults.probe_batches})")
        if self.range_steps == 0 and defaults.range_steps:
            parts.append("no learning-rate range test")
        elif self.range_steps < defaults.range_steps:
            parts.append(f"a learning-rate range test of {self.range_steps} steps (not {defaults.range_steps})")
        if not self.overfit and defaults.overfit:
            parts.append("no overfit-one-batch check")
        if not parts:
            return None
        return (
            f"effort: one training step takes {self.step_s:.3g} s here, so the analysis was scaled down to aim at "
            f"{seconds:.0f} s (about the time your captured steps took, {FLOOR_SECONDS:.0f} s at least unless those "
            f"steps are slow): "
            f"{', '.join(parts)}; a finding a short replay can't confirm stays unconfirmed (info)"
        )


def captured_seconds(first_step_at: float | None, last_step_at: float | None, steps: int) -> tuple[float, float | None]:
    """Seconds the user's loop took from its first captured optimizer step to its last, and the mean seconds
    of one step (None before two steps), from the recorder's ``time.perf_counter()`` marks."""
    if first_step_at is None or last_step_at is None or steps < 2:
        return 0.0, None
    seconds = max(0.0, last_step_at - first_step_at)
    return seconds, (seconds / (steps - 1) if seconds > 0 else None)


def analysis_budget(
    training_s: float, cap: float = DEFAULT_SECONDS, floor: float = FLOOR_SECONDS, *, planned: bool = True
) -> float:
    """Seconds the analysis aims at, from the seconds the user's captured steps took.

    Args:
        training_s: Seconds from the first captured optimizer step to the last.
        cap: The most it may aim at (the default, or less under a short ``--time-budget``).
        floor: The least it aims at (:data:`SLOW_FLOOR_SECONDS` when the capture was cut for slow steps).
        planned: False when the user set the replay length (``--replay-steps``, ``replay_steps=``): the analysis
            then runs in full, unplanned (an infinite budget; the CLI's hard time limit still holds), so that what
            it measures is the same on a busy machine as on an idle one.
    """
    if not planned:
        return math.inf
    return min(cap, max(floor, CAPTURE_MULTIPLE * training_s))


def calibrated(step_s: float, forward_s: float, captured_step_s: float | None) -> tuple[float, float]:
    """The measured step and forward costs, lowered to the user's own step time when that was faster.

    The handful of steps :func:`measure_step` times still pay one-off costs on some models (a GRU's first
    calls took 2x its steady step), which planned a tenth of the affordable analysis; the captured loop's
    mean step (its data loading included, so never an underestimate of a replay's step) corrects it.
    """
    if not captured_step_s or captured_step_s <= 0 or captured_step_s >= step_s:
        return step_s, forward_s
    return captured_step_s, forward_s * captured_step_s / step_s


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
    overfit_runs: float,
    start_s: float = 0.0,
    parallel: bool = False,
) -> Effort:
    """The defaults if they fit ``seconds``; otherwise a scaled-down effort that does (or the floor).
    ``parallel``: the range test and the overfit check will run beside the baseline replay."""
    measured = replace(defaults, step_s=step_s, forward_s=forward_s, start_s=start_s, parallel=parallel)

    def cost(effort: Effort) -> float:
        return effort.estimate(step_s, forward_s, overfit_steps, overfit_runs)

    if cost(measured) <= seconds:
        return measured
    # Fewer evaluation batches first: the curves get a little noisier, but every replay keeps its length.
    fewest = min(defaults.probe_batches, MIN_EVAL_BATCHES)
    fewer = replace(measured, probe_batches=fewest, grad_batches=min(defaults.grad_batches, fewest), scaled=True)
    if cost(fewer) <= seconds:
        most = max(
            (n for n in range(fewest, defaults.probe_batches + 1) if cost(replace(fewer, probe_batches=n)) <= seconds),
            default=fewest,
        )
        return replace(fewer, probe_batches=most, grad_batches=min(defaults.grad_batches, most))
    share = seconds / cost(fewer)
    batches = max(MIN_BATCHES, min(fewest, int(defaults.probe_batches * share)))
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
        parallel=parallel,
    )
    # Still over at the floors: drop the overfit check, then the range test.
    if cost(effort) > seconds:
        effort = replace(effort, overfit=False)
    if cost(effort) > seconds:
        effort = replace(effort, range_steps=0)
    return effort
