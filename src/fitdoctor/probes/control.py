"""The target controls: the baseline replay again, on the same inputs with other targets.

*Shuffled*: the targets permuted across the captured samples. What a model learns there it learns without any
information the inputs carry about the targets: it memorises them. Zhang et al. (2017, "Understanding deep
learning requires rethinking generalization", ICLR) showed that networks fit randomly permuted labels, but more
slowly than the real ones; Arpit et al. (2017, "A closer look at memorization in deep networks", ICML) that real
data is learned first, by its patterns.

*Planted*: the same targets handed out by one linear feature of the inputs, a signal any working setup learns.
Where that control can't be built (token ids) or the setup can't learn it either (a recurrent network forgets
most of a feature spread over every time step), the same targets are handed out by a *teacher*: another random
initialisation of the user's own model. A signal its architecture computes by construction, as in the
student-teacher setups of learning theory (Gardner and Derrida 1989; Saad and Solla 1995).

A setup that learns its real targets no faster than shuffled ones, while it learns planted ones, has no pattern
to learn in its real targets: its inputs and targets don't belong together (``rules/no-signal.toml``).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from fitdoctor import futility
from fitdoctor.batches import Batch, planted_targets, projected, ranked_targets, shuffled_targets
from fitdoctor.futility import Futility
from fitdoctor.parallel import run_all
from fitdoctor.replay import ReplayResult, StopTest, deciding_thin, inference, portable, replay, restored, rng_kept
from fitdoctor.training import Plan, TrainingSetup, fresh_model, predict

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


def learned_share(final: float, constant: float) -> float:
    """The share of the best constant's loss a replay removed by its end (0: no better than the constant; a
    diverged or worse run counts as 0)."""
    if not math.isfinite(final):
        return 0.0
    return max(0.0, (constant - final) / constant)


def learns_little(user_losses: Sequence[float], constant: float | None, gate: float) -> bool:
    """Whether the user's loop ends above ``gate`` times the best constant's loss (the control then runs; a
    setup that already fits needs no control and pays nothing for it)."""
    if constant is None or not math.isfinite(constant) or constant <= 0:
        return False
    end = loop_end(user_losses)
    return end is not None and end > gate * constant


#: The teacher's weights are drawn from the replay seed plus this (any fixed number: one draw, the same every run).
TEACHER_SEED_STEP = 104_729


@dataclass(frozen=True)
class Controls:
    """The control replays of the baseline (each None when its targets couldn't be built or it was not needed).

    Attributes:
        shuffled: On the targets permuted across the samples: what the setup learns without any signal.
        planted: On the same targets handed out by one linear feature of the inputs: what it learns from a signal
            it can surely learn.
        teacher: On the same targets handed out by another random initialisation of the same model: run where
            ``planted`` can't be built, or where the setup learned neither its real targets beyond the shuffled
            ones nor the planted ones (the signal its architecture surely can represent).
    """

    shuffled: ReplayResult | None
    planted: ReplayResult | None
    teacher: ReplayResult | None = None


def teacher_targets(setup: TrainingSetup) -> dict[int, Batch] | None:
    """The distinct captured batches with the same targets handed out by a teacher: a copy of the model whose
    layers are re-initialised by their own ``reset_parameters`` (PyTorch's default init) from a fixed seed, in
    eval mode, scores each sample by one random direction of its output, and the sample it scores k-th lowest gets
    the k-th lowest target (:func:`fitdoctor.batches.ranked_targets`). None when no layer can be re-initialised,
    the teacher's output is not one float row per target, or it scores every sample alike. Draws no random number
    from the caller's stream."""

    def by_teacher(distinct: list[Batch]) -> torch.Tensor | None:
        seed = setup.seed + TEACHER_SEED_STEP
        teacher = fresh_model(setup)
        resets = [reset for m in teacher.modules() if callable(reset := getattr(m, "reset_parameters", None))]
        if not resets:
            return None
        rows: list[torch.Tensor] = []
        with rng_kept(teacher):
            torch.manual_seed(seed)
            for reset in resets:
                reset()
            with inference(teacher):
                for b in distinct:
                    try:
                        out = predict(teacher, b)
                    except Exception:  # a model the teacher can't run has no teacher control
                        return None
                    if b.target is None or not out.is_floating_point() or out.ndim < 1:
                        return None
                    if out.shape[0] != b.target.shape[0]:
                        return None
                    rows.append(out.detach().reshape(out.shape[0], -1).double().cpu())
        scores = projected(torch.cat(rows), seed)  # not finite: ranked_targets refuses them
        return None if float(scores.std()) == 0.0 else scores

    return ranked_targets(setup.batches, by_teacher)


def target_controls(
    setup: TrainingSetup,
    eval_batches: Sequence[Batch],
    steps: int,
    points: int,
    decides: Decides | None = None,
) -> Controls:
    """The controls, each the baseline replay (same weights, optimizer, steps and seed) on other targets,
    measured on the evaluation batches with those targets: the shuffled and the planted one (the teacher where no
    planted control can be built), two independent trainings that run at once on two cores
    (``fitdoctor.parallel``), with the same results.

    With ``decides`` (what the rule reading them needs of them), a control stops once it can no longer end where it
    would decide anything (``fitdoctor.futility``, unless replays must run in full); its result then ends there,
    marked ``stopped``. Since that rule reads a negative and a positive control together, none runs when one of
    them can't be built. And where the setup learned its real targets no better than the shuffled ones and the
    planted ones no better either, the teacher control runs after them: the planted feature may be one this
    architecture can't learn."""
    stops = decides.stops() if decides is not None and futility.enabled() else {}
    shuffled = shuffled_targets(setup.batches, setup.seed)
    planted = planted_targets(setup.batches, setup.seed)
    positive = ("planted-targets", planted) if planted is not None else ("teacher-targets", teacher_targets(setup))
    first = _run(setup, [("shuffled-targets", shuffled), positive], eval_batches, steps, points, stops, decides)
    if decides is not None and len(first) < 2:
        return Controls(None, None)
    results = dict(first)
    if decides is not None and decides.wants_teacher(first.get("shuffled-targets"), first.get("planted-targets")):
        results |= _run(setup, [("teacher-targets", teacher_targets(setup))], eval_batches, steps, points, stops)
    return Controls(results.get("shuffled-targets"), results.get("planted-targets"), results.get("teacher-targets"))


def _run(
    setup: TrainingSetup,
    controls: list[tuple[str, dict[int, Batch] | None]],
    eval_batches: Sequence[Batch],
    steps: int,
    points: int,
    stops: dict[str, StopTest],
    decides: Decides | None = None,
) -> dict[str, ReplayResult | None]:
    """The replays of the controls that could be built, by plan name (all of them at once, see ``parallel``);
    with ``decides``, none unless every one could."""
    tasks = [
        (plan, evals)
        for plan, evals in (_control_plan(c, name, eval_batches) for name, c in controls)
        if plan is not None
    ]
    if not tasks or (decides is not None and len(tasks) < len(controls)):
        return {}
    outcomes = run_all(
        tasks,
        lambda task: replay(
            setup, task[0], steps, task[1], points=points, thin=deciding_thin(points), stop=stops.get(task[0].name)
        ),
        pack=portable,
        unpack=lambda task, packed: restored(setup, task[0], packed),
    )
    return {task[0].name: outcome.value for task, outcome in zip(tasks, outcomes, strict=True)}


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
        real = learned_share(self.baseline.final, self.constant)
        planted = self.constant * (1.0 - real - self.margin)
        targets = {"planted-targets": planted, "teacher-targets": planted}
        if real > self.margin:  # under it, a shuffled control that learns nothing still matches the real targets
            targets["shuffled-targets"] = self.constant * (1.0 - real + self.margin)
        out: dict[str, StopTest] = {}
        for name, target in targets.items():
            rule = Futility.reaching(self.baseline.curve, target, self.baseline.steps)
            if rule is not None:
                out[name] = _stop(rule)
        return out

    def wants_teacher(self, shuffled: ReplayResult | None, planted: ReplayResult | None) -> bool:
        """Whether the teacher control can still decide something: the real targets were learned at most ``margin``
        beyond the shuffled control, and the planted control was not learned more than ``margin`` beyond them."""
        if shuffled is None or planted is None or not (math.isfinite(self.constant) and self.constant > 0):
            return False
        real = learned_share(self.baseline.final, self.constant)
        return (
            real - learned_share(shuffled.final, self.constant) <= self.margin
            and learned_share(planted.final, self.constant) - real <= self.margin
        )


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
