"""The target controls: the baseline replay again, on the same inputs with other targets.

*Shuffled*: the targets permuted across the captured samples. What a model learns there it learns without any
information the inputs carry about the targets: it memorises them. Zhang et al. (2017, "Understanding deep
learning requires rethinking generalization", ICLR) showed that networks fit randomly permuted labels, but more
slowly than the real ones; Arpit et al. (2017, "A closer look at memorization in deep networks", ICML) that real
data is learned first, by its patterns.

*Planted*: the same targets handed out by one linear feature of the inputs, a signal any working setup learns.

A setup that learns its real targets no faster than shuffled ones, while it learns planted ones, has no pattern
to learn in its real targets: its inputs and targets don't belong together (``rules/no-signal.toml``).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from fitdoctor.batches import Batch, planted_targets, shuffled_targets
from fitdoctor.futility import Futility
from fitdoctor.parallel import run_all
from fitdoctor.replay import ReplayResult, StopTest, deciding_thin, portable, replay, restored
from fitdoctor.training import Plan, TrainingSetup

#: The user's own losses at the end of the captured steps: the median of this share of them (at least
#: :data:`MIN_TAIL` values), against the best constant's loss, decides whether the control runs.
TAIL_SHARE = 0.1
MIN_TAIL = 5


def loop_end(user_losses: Sequence[float]) -> float | None:
    """Where the user's loop ends: the median of its last :data:`TAIL_SHARE` of finite losses (at least
    :data:`MIN_TAIL` of them; None when there are fewer)."""
    finite = [v for v in user_losses if math.isfinite(v)]
    if len(finite) < MIN_TAIL:
        return None
    return statistics.median(finite[-max(MIN_TAIL, int(len(finite) * TAIL_SHARE)) :])


def learns_little(user_losses: Sequence[float], constant: float | None, gate: float) -> bool:
    """Whether the user's loop ends above ``gate`` times the best constant's loss (the control then runs; a
    setup that already fits needs no control and pays nothing for it)."""
    if constant is None or not math.isfinite(constant) or constant <= 0:
        return False
    end = loop_end(user_losses)
    return end is not None and end > gate * constant


@dataclass(frozen=True)
class Controls:
    """The two control replays of the baseline (each None when its targets couldn't be built).

    Attributes:
        shuffled: On the targets permuted across the samples: what the setup learns without any signal.
        planted: On the same targets handed out by one linear feature of the inputs: what it learns from a signal
            it can surely learn.
    """

    shuffled: ReplayResult | None
    planted: ReplayResult | None


def target_controls(
    setup: TrainingSetup,
    eval_batches: Sequence[Batch],
    steps: int,
    points: int,
    decides: Decides | None = None,
) -> Controls:
    """Both controls, each the baseline replay (same weights, optimizer, steps and seed) on other targets,
    measured on the evaluation batches with those targets. Two independent trainings: on two cores they run
    at once (``fitdoctor.parallel``), with the same results.

    With ``decides`` (what the rule reading them needs of them), a control stops once it can no longer end where it
    would decide anything (``fitdoctor.futility``); its result then ends there, marked ``stopped``. And since that
    rule reads the two together, neither runs when one can't be built (token inputs have no planted control)."""
    stops = decides.stops() if decides is not None else {}
    tasks = [
        (plan, evals)
        for plan, evals in (
            _control_plan(shuffled_targets(setup.batches, setup.seed), "shuffled-targets", eval_batches),
            _control_plan(planted_targets(setup.batches, setup.seed), "planted-targets", eval_batches),
        )
        if plan is not None
    ]
    if decides is not None and len(tasks) < 2:
        return Controls(None, None)
    outcomes = run_all(
        tasks,
        lambda task: replay(
            setup, task[0], steps, task[1], points=points, thin=deciding_thin(points), stop=stops.get(task[0].name)
        ),
        pack=portable,
        unpack=lambda task, packed: restored(setup, task[0], packed),
    )
    results = {task[0].name: outcome.value for task, outcome in zip(tasks, outcomes, strict=True)}
    return Controls(results.get("shuffled-targets"), results.get("planted-targets"))


@dataclass(frozen=True)
class Decides:
    """Where each control's last loss must be for the rule that reads the controls to say anything: a learned share
    (``1 - final / constant``) within ``margin`` of the real targets' for the shuffled control, more than ``margin``
    above it for the planted one (``rules/no-signal.toml``).

    Attributes:
        baseline: The baseline replay (real targets), run to its end.
        constant: The loss of always predicting the best constant (the same for the controls: their targets are
            the real ones, moved).
        margin: The rule's margin, as a share of ``constant``.
    """

    baseline: ReplayResult
    constant: float
    margin: float

    def stops(self) -> dict[str, StopTest]:
        """The stop test of each control plan, by name (none when the baseline gives nothing to compare with)."""
        if not (math.isfinite(self.constant) and self.constant > 0 and math.isfinite(self.baseline.final)):
            return {}
        real = max(0.0, 1.0 - self.baseline.final / self.constant)
        targets = {"planted-targets": self.constant * (1.0 - real - self.margin)}
        if real > self.margin:  # under it, a shuffled control that learns nothing still matches the real targets
            targets["shuffled-targets"] = self.constant * (1.0 - real + self.margin)
        out: dict[str, StopTest] = {}
        for name, target in targets.items():
            rule = Futility.reaching(self.baseline.curve, target, self.baseline.steps)
            if rule is not None:
                out[name] = _stop(rule)
        return out


def _stop(rule: Futility) -> StopTest:
    return lambda curve, _errors: rule.hopeless(curve)


def _control_plan(
    control: dict[int, Batch] | None, name: str, eval_batches: Sequence[Batch]
) -> tuple[Plan | None, list[Batch]]:
    """The plan that trains on the control's targets, and the evaluation batches with them (None: no control)."""
    if control is None or any(id(b) not in control for b in eval_batches):
        return None, []
    plan = Plan(name, rebatch=lambda batches: [control.get(id(b), b) for b in batches])
    return plan, [control[id(b)] for b in eval_batches]
