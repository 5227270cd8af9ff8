"""The pipeline from a captured :class:`TrainingSetup` to a :class:`Report`: probe, judge, confirm."""

from __future__ import annotations

import copy
import dataclasses
import functools
import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import torch

from fitdoctor._version import __version__
from fitdoctor.batches import Batch
from fitdoctor.catalog import RuleDoc, load_catalog
from fitdoctor.confirm import Confirmation, confirm, rank, still_learns_little
from fitdoctor.describe import describe_setup, summarize_training
from fitdoctor.effort import (
    ASSUMED_OVERFIT_RUNS,
    DEFAULT_SECONDS,
    MIN_FIX_SECONDS,
    Effort,
    calibrated,
    measure_step,
    plan_effort,
)
from fitdoctor.evidence import Evidence, Locator, StateEvidence
from fitdoctor.findings import Finding, Report
from fitdoctor.location import Location
from fitdoctor.parallel import can_fork, run_all
from fitdoctor.probes.activations import current_site_factory, probe_activations
from fitdoctor.probes.control import Decides, learns_little, target_controls
from fitdoctor.probes.data import constant_prediction_loss, input_stats, nonfinite_data, target_stats
from fitdoctor.probes.gradients import probe_gradients
from fitdoctor.probes.lr_range import STEPS as RANGE_STEPS
from fitdoctor.probes.lr_range import lr_range_test
from fitdoctor.probes.outputs import output_moments, prediction_spread
from fitdoctor.probes.overfit import overfit_one_batch
from fitdoctor.probes.sequence import probe_sequence_inputs
from fitdoctor.probes.trend import block_size, loss_trend
from fitdoctor.probes.yardstick import program_constant_loss
from fitdoctor.quantities import ALL, NotMeasured, measured
from fitdoctor.replay import ReplayResult, replay
from fitdoctor.rules import load_rules, probe_settings
from fitdoctor.rules.base import RuleSpec, Suspect
from fitdoctor.selection import RuleSelection
from fitdoctor.summary import LoopSummary
from fitdoctor.training import Plan, TrainingSetup, fresh_model, term_view, unwrap

MAX_PROBE_SAMPLES = 4096
MAX_PROBE_BATCHES = 64
MAX_GRAD_BATCHES = 16


def sampling_note(batches: Sequence[Batch], probed: Sequence[Batch]) -> str | None:
    """What the probes saw of the captured batches, when it was not all of them (None when it was)."""
    distinct = len({id(b) for b in batches})
    if len(probed) >= distinct:
        return None
    samples = sum(b.pred_shape[0] if b.pred_shape else 1 for b in probed)
    return (
        f"sampled: activation, gradient and loss probes used the first {len(probed)} of the {distinct} distinct "
        f"captured batches ({samples:,} samples); the data checks used all {distinct}"
    )


def select_batches(batches: Sequence[Batch], max_batches: int, max_samples: int) -> list[Batch]:
    """The first batches, up to a number of batches and of samples (the report says so)."""
    out: list[Batch] = []
    seen: set[int] = set()
    samples = 0
    for batch in batches:
        if id(batch) in seen:
            continue
        seen.add(id(batch))
        out.append(batch)
        samples += batch.pred_shape[0] if batch.pred_shape else 1
        if len(out) >= max_batches or samples >= max_samples:
            break
    return out


@contextmanager
def single_thread(model: torch.nn.Module) -> Any:
    """One intra-op thread for small models: on 2-core machines tiny ops ran ~100x slower threaded."""
    small = sum(p.numel() for p in model.parameters()) < 2_000_000
    before = torch.get_num_threads()
    if small:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclasses.dataclass(frozen=True)
class Gathered:
    """What :func:`gather_evidence` measured: the evidence, the effort it chose, and the fresh model it probed."""

    ev: Evidence
    effort: Effort
    init_model: torch.nn.Module
    timings: dict[str, float] = dataclasses.field(default_factory=dict)


def gather_evidence(
    setup: TrainingSetup,
    locate: Locator,
    *,
    replay_steps: int,
    settings: dict[str, float] | None = None,
    needed: set[str] | frozenset[str] = ALL,
    training: LoopSummary | None = None,
    is_user: Callable[[str], bool] | None = None,
    notes: Sequence[str] = (),
    budget_s: float = DEFAULT_SECONDS,
    progress: Callable[[str], None] | None = None,
    captured_step_s: float | None = None,
) -> Gathered:
    """Probe the setup and run the baseline replay: the :class:`Evidence` every rule reads. A small model is
    probed on one intra-op thread (see :func:`single_thread`).

    Args:
        setup: The captured setup.
        locate: Maps captured sites to the user's lines.
        replay_steps: Steps of the baseline replay (before the effort is scaled to the budget).
        settings: The probe settings the rules' thresholds supply (default: the catalog's).
        needed: The quantities to measure (:data:`fitdoctor.quantities.QUANTITIES`): those the selected rules
            declare. The others are left :class:`~fitdoctor.quantities.NotMeasured`.
        training: What the capture saw of the user's loop.
        is_user: Tells the user's files apart (for activation call lines).
        notes: What was sampled or skipped during capture.
        budget_s: Seconds the analysis aims to fit in (see ``fitdoctor.effort``).
        progress: Told what the analysis is doing, phase by phase.
        captured_step_s: Mean seconds of one step of the user's captured loop (calibrates the plan).
    """
    with single_thread(setup.model):
        return _gather(
            setup, locate, replay_steps, settings, needed, training, is_user, notes, budget_s, progress, captured_step_s
        )


def _gather(
    setup: TrainingSetup,
    locate: Locator,
    replay_steps: int,
    settings: dict[str, float] | None,
    needed: set[str] | frozenset[str],
    training: LoopSummary | None,
    is_user: Callable[[str], bool] | None,
    notes: Sequence[str],
    budget_s: float,
    progress: Callable[[str], None] | None,
    captured_step_s: float | None,
) -> Gathered:
    say = progress or (lambda _: None)
    clock = _Phases()
    settings = settings if settings is not None else probe_settings(load_catalog())
    site_of = current_site_factory(is_user) if is_user else None
    ratio = settings["activations.derivative_ratio"]
    notes = list(notes)
    overfit_steps = int(settings["overfit.steps"]) if "overfit" in needed else 0
    range_steps = RANGE_STEPS if "lr_range" in needed else 0
    defaults = Effort(replay_steps, MAX_PROBE_BATCHES, MAX_GRAD_BATCHES, range_steps, "overfit" in needed)
    step_s, forward_s, start_s = measure_step(setup)
    clock.lap("plan_s")
    step_s, forward_s = calibrated(step_s, forward_s, captured_step_s)
    effort = plan_effort(
        defaults,
        step_s,
        forward_s,
        budget_s,
        overfit_steps,
        overfit_runs=ASSUMED_OVERFIT_RUNS,
        start_s=start_s,
        parallel=can_fork(),
    )
    scaled = effort.note(defaults, budget_s)
    if scaled:
        notes.append(scaled)
    replay_steps = effort.replay_steps
    probe_batches = select_batches(setup.batches, effort.probe_batches, MAX_PROBE_SAMPLES)
    eval_batches = probe_batches
    sampled = sampling_note(setup.batches, probe_batches)
    if sampled:
        notes.append(sampled)
    say("probing the model at its initial weights")
    init_model = fresh_model(setup)
    acts, final, order = probe_activations(init_model, probe_batches, ratio, site_of)
    sequence_inputs = probe_sequence_inputs(init_model, probe_batches) if "sequence_inputs" in needed else []
    grad_batches = probe_batches[: effort.grad_batches]
    # A quantity no selected rule needs is not measured: its placeholder is masked by ``restricted`` below.
    init_grads = probe_gradients(init_model, setup, grad_batches, order) if "init.gradients" in needed else ([], 0.0)
    init_output = _output_at_init(init_model, setup, probe_batches, needed)
    clock.lap("probes_s")
    spread = "spread" in needed

    def trained() -> tuple[ReplayResult, Any, Any, Any, Any, dict[str, float]]:
        """The baseline replay and the probes of the model it trained."""
        laps = _Phases()
        baseline = replay(setup, Plan(), replay_steps, eval_batches, points=effort.points)
        laps.lap("baseline_s")
        model = unwrap(baseline.model)
        acts_after = (
            probe_activations(model, probe_batches, ratio, site_of)[0] if "trained.activations" in needed else []
        )
        after_grads = probe_gradients(model, setup, grad_batches, order) if "trained.gradients" in needed else ([], 0.0)
        spread_init = prediction_spread(init_model, setup, probe_batches) if spread else None
        spread_after = prediction_spread(model, setup, probe_batches) if spread else None
        laps.lap("probes_s")
        return baseline, acts_after, after_grads, spread_init, spread_after, laps.seconds

    targets = target_stats(setup.batches)
    constant_loss = (
        program_constant_loss(setup, setup.batches, targets)
        if setup.programmed
        else constant_prediction_loss(setup.batches, setup.loss, targets)
    )

    def side() -> tuple[Any, Any, dict[str, float]]:
        """The learning-rate range test and the overfit check: trainings of their own, apart from the baseline."""
        laps = _Phases()
        range_test = (
            lr_range_test(setup, settings["lr_range.divergence_factor"], effort.range_steps)
            if effort.range_steps and not setup.adversarial
            else None
        )
        laps.lap("lr_range_s")
        overfit = None
        if effort.overfit:
            # Karpathy's check is about the model and the data, not the optimizer: the user's optimizer at
            # its own and the range test's rate, and Adam at two standard rates.
            lrs = [lr for lr in (setup.lr, range_test.suggested_lr if range_test else None) if lr]
            overfit = overfit_one_batch(
                setup,
                int(settings["overfit.batch_size"]),
                int(settings["overfit.steps"]),
                sorted(set(lrs)),
                adam_lrs=(1e-3, 1e-2),
                memorised=settings.get("overfit.memorised", 0.0),
            )
        laps.lap("overfit_s")
        return range_test, overfit, laps.seconds

    say(f"replaying {replay_steps} steps from the initial weights; range test and overfit check")
    # Two independent parts: on two cores, the range test and the overfit check run beside the baseline replay.
    outcomes: list[Any] = [o.value for o in run_all([trained, side], lambda task: task())]
    baseline, acts_after, after_grads, spread_init, spread_after, seconds = outcomes[0]
    range_test, overfit, side_seconds = outcomes[1]
    clock.add({**seconds, **side_seconds})
    ev = Evidence(
        setup=setup,
        probe_batches=probe_batches,
        eval_batches=eval_batches,
        inputs=input_stats(setup.batches),
        targets=targets,
        final=final,
        layers=order,
        init=StateEvidence(acts, *init_grads, spread_init, init_output),
        trained=StateEvidence(acts_after, after_grads[0], after_grads[1], spread_after),
        baseline=baseline,
        user_trend=loss_trend(setup.user_losses, block_size([id(b) for b in setup.batches])),
        replay_trend=loss_trend([v for _, v in baseline.curve]),
        constant_loss=constant_loss,
        locate=locate,
        notes=notes,
        loop=training or LoopSummary(),
        nonfinite=nonfinite_data(setup.batches),
        lr_range=range_test,
        overfit=overfit,
        sequence_inputs=sequence_inputs,
    ).restricted(needed)
    clock.lap("probes_s")
    return Gathered(ev, effort, init_model, clock.seconds)


def _last_resort(
    ev: Evidence,
    active: dict[str, RuleSpec],
    catalog: dict[str, RuleDoc],
    settings: dict[str, float],
    suspects: list[Suspect],
    confirmation: Confirmation,
    steps: int,
    points: int,
    deadline: float,
    timings: dict[str, float],
) -> tuple[Evidence, Confirmation]:
    """The target controls, run only when they can decide something: a selected rule reads them, the user's loop
    ends far from a fit, and no finding other than a symptom or a last resort is confirmed whose verified fix
    makes the setup learn (a last-resort rule would yield to it; see ``confirm``). The rules that read them then judge, and the findings are confirmed
    again with the replays already measured."""
    if "shuffled_targets" not in {q for r in active.values() for q in r.needs} or ev.setup.adversarial:
        return ev, confirmation
    gate = settings.get("shuffled_targets.gate", 0.0)
    if not learns_little(ev.setup.user_losses, ev.constant_loss, gate):
        return ev, confirmation
    # a confirmed cause whose verified fix still learns little leaves the failure unexplained: the controls run
    if any(
        f.confidence == "confirmed"
        and not catalog[f.code].symptom
        and not catalog[f.code].last_resort
        and not still_learns_little(f.fix, confirmation.replays, ev.constant_loss, gate)
        for f in confirmation.findings
    ):
        return ev, confirmation
    started = time.perf_counter()
    margin = settings.get("shuffled_targets.margin")
    decides = (
        Decides(ev.baseline, ev.constant_loss, margin) if margin is not None and ev.constant_loss is not None else None
    )
    ev = dataclasses.replace(ev, control=target_controls(ev.setup, ev.eval_batches, steps, points, decides))
    timings["control_s"] = time.perf_counter() - started
    more = [s for code, r in active.items() if "shuffled_targets" in r.needs for s in r.check(ev, catalog[code])]
    if not more:
        return ev, confirmation
    again = confirm(
        ev,
        [*suspects, *more],
        catalog,
        steps,
        ev.eval_batches,
        deadline=deadline,
        points=points,
        known=confirmation.replays,
        repair_gate=gate,
    )
    return ev, again


def _output_at_init(
    model: torch.nn.Module, setup: TrainingSetup, batches: Sequence[Batch], needed: set[str] | frozenset[str]
) -> tuple[float, float] | None:
    """The ``init.output`` quantity: measured for regression losses only (where a rule reads it)."""
    if "init.output" not in needed or not setup.loss.is_regression:
        return None
    return output_moments(model, setup, batches)


class _Phases:
    """Seconds per analysis phase: each lap adds the time since the last one to a phase's total."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.seconds[phase] = self.seconds.get(phase, 0.0) + now - self._last
        self._last = now

    def add(self, seconds: dict[str, float]) -> None:
        """Add phases timed elsewhere (in parallel), and start the next lap now."""
        for phase, value in seconds.items():
            self.seconds[phase] = self.seconds.get(phase, 0.0) + value
        self._last = time.perf_counter()


_F = TypeVar("_F", bound=Callable[..., Any])


def _silent(fn: _F) -> _F:
    """The probes and replays re-run the user's objective many times: a warning it raises (a broadcast target,
    a deprecated argument) was shown once when the script ran, from the script's own line."""

    @functools.wraps(fn)
    def quiet(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(*args, **kwargs)

    return quiet  # type: ignore[return-value]


@_silent
def analyse(
    setup: TrainingSetup,
    locate: Locator,
    *,
    script: str,
    replay_steps: int,
    training: LoopSummary | None = None,
    is_user: Callable[[str], bool] | None = None,
    notes: Sequence[str] = (),
    timings: dict[str, float] | None = None,
    rules: RuleSelection | None = None,
    progress: Callable[[str], None] | None = None,
    budget_s: float = DEFAULT_SECONDS,
    captured_step_s: float | None = None,
) -> Report:
    """Probe the setup, run the rules, confirm the findings and build the report.

    Args:
        setup: The captured setup.
        locate: Maps captured sites to the user's lines.
        script: The script name shown in the report.
        replay_steps: Steps of the baseline and of each counterfactual replay.
        training: What the capture saw of the user's loop.
        is_user: Tells the user's files apart (for activation call lines).
        notes: What was sampled or skipped during capture.
        timings: Seconds already spent (capture).
        rules: Which rules run, with which thresholds (default: all, as catalogued).
        progress: Told what the analysis is doing, phase by phase.
        budget_s: Seconds the analysis aims to fit in: a model whose measured step cost would need more
            gets shorter replays and fewer probe batches (see ``fitdoctor.effort``), and the report says so.
        captured_step_s: Mean seconds of one step of the user's captured loop (calibrates the plan).
    """
    say = progress or (lambda _: None)
    timings = dict(timings or {})
    started = time.perf_counter()
    selection = rules or RuleSelection()
    catalog = selection.catalog()
    active = {code: r for code, r in load_rules().items() if code in catalog and selection.is_selected(catalog[code])}
    needed = {quantity for r in active.values() for quantity in r.needs}
    settings = probe_settings(catalog)
    site_of = current_site_factory(is_user) if is_user else None
    ratio = settings["activations.derivative_ratio"]
    with single_thread(setup.model):
        gathered = gather_evidence(
            setup,
            locate,
            replay_steps=replay_steps,
            settings=settings,
            needed=needed,
            training=training,
            is_user=is_user,
            notes=notes,
            budget_s=budget_s,
            progress=say,
            captured_step_s=captured_step_s,
        )
        ev, effort = gathered.ev, gathered.effort
        replay_steps, eval_batches, probe_batches = effort.replay_steps, ev.eval_batches, ev.probe_batches
        notes = ev.notes
        range_test = ev.lr_range if measured(ev.lr_range) else None
        overfit = ev.overfit if measured(ev.overfit) else None
        timings["probe_s"] = time.perf_counter() - started
        timings.update(gathered.timings)
        suspects = [s for code, r in active.items() for s in r.check(ev, catalog[code])]
        term_views = (
            _term_views(ev, active, catalog, list(probe_batches), ratio, site_of, gathered.init_model)
            if setup.programmed
            else []
        )
        confirm_started = time.perf_counter()
        fixes = len({c.id for s in suspects for c in s.candidates})
        if fixes:
            say(f"verifying {fixes} fix{'es' if fixes != 1 else ''} by replay")
        # The plan covered the probes; the fix replays get the budget again (at least MIN_FIX_SECONDS: a small
        # model's replays take about a second each), and the ones that would start past it are skipped (the
        # CLI's hard limit is 240 s, twice the largest budget).
        deadline = confirm_started + max(budget_s, MIN_FIX_SECONDS)
        confirmation = confirm(
            ev, suspects, catalog, replay_steps, eval_batches, deadline=deadline, points=effort.points
        )
        ev, confirmation = _last_resort(
            ev, active, catalog, settings, suspects, confirmation, replay_steps, effort.points, deadline, timings
        )
        for view, view_suspects in term_views:
            extra = confirm(
                view, view_suspects, catalog, replay_steps, view.eval_batches, deadline=deadline, points=effort.points
            )
            for name, r in extra.replays.items():
                key = name if name not in confirmation.replays else f"{name}@{view.setup.loss.name}"
                confirmation.replays.setdefault(key, r)
            confirmation.findings = rank([*confirmation.findings, *extra.findings], catalog)
            confirmation.suppressed += extra.suppressed
            confirmation.skipped += extra.skipped
        if confirmation.skipped:
            notes.append(
                f"{confirmation.skipped} fix replay(s) skipped: the fix replays ran past their "
                f"{max(budget_s, MIN_FIX_SECONDS):.0f} s budget; those fixes are unverified"
            )
        # The target controls ran in this phase; they have their own line.
        timings["confirm_s"] = time.perf_counter() - confirm_started - timings.get("control_s", 0.0)
    timings["analysis_s"] = time.perf_counter() - started
    training_out = summarize_training(
        training or LoopSummary(),
        ev,
        confirmation,
        replay_steps=replay_steps,
        eval_batches=len(eval_batches),
        settings=settings,
        rules=active,
        range_test=range_test,
        overfit=overfit,
    )
    return Report(
        version=__version__,
        script=script,
        status="ok",
        setup=describe_setup(setup, ev, locate),
        findings=tuple(confirmation.findings),
        suppressed=tuple(confirmation.suppressed),
        training=training_out,
        timings=timings,
        seed=setup.seed,
    )


def _term_views(
    ev: Evidence,
    active: dict[str, Any],
    catalog: dict[str, RuleDoc],
    probe_batches: Sequence[Batch],
    ratio: float,
    site_of: Any,
    init_model: torch.nn.Module,
) -> list[tuple[Evidence, list[Any]]]:
    """The target-side rules on every further loss term (a second head): each sees the same training
    through that term's prediction and target; its findings name the term."""
    out = []
    for k in range(8):
        found = term_view(ev.setup, k)
        if found is None:
            break
        view, mapping = found
        probes = [mapping[id(b)] for b in probe_batches if id(b) in mapping]
        if not probes:
            continue
        _, final, _ = probe_activations(init_model, probes, ratio, site_of)
        targets = target_stats(list(mapping.values()))
        first = probes[0]
        op = first.target_op if first.target_op is not None else first.primary
        locate = copy.copy(ev.locate)
        if first.program is not None and 0 <= op < len(first.program.ops):
            locate.loss = ev.locate.site(first.program.ops[op].site) or ev.locate.loss
        init = ev.init
        if not isinstance(init.output, NotMeasured):  # the term's own prediction at init
            init = dataclasses.replace(init, output=_output_at_init(init_model, view, probes, {"init.output"}))
        view_ev = dataclasses.replace(
            ev,
            init=init,
            setup=view,
            probe_batches=probes,
            eval_batches=probes,
            targets=targets,
            final=final,
            locate=locate,
            constant_loss=constant_prediction_loss(list(mapping.values()), view.loss, targets),
        )
        suspects = []
        for code, r in active.items():
            if r.per_term:
                for s in r.check(view_ev, catalog[code]):
                    suspects.append(dataclasses.replace(s, message=f"In the {view.loss.name} loss term: {s.message}"))
        if suspects:
            out.append((view_ev, suspects))
    return out


def meta_report(
    script: str,
    status: str,
    code: str,
    message: str,
    extra: dict[str, Any] | None = None,
    location: Location | None = None,
    timings: dict[str, float] | None = None,
    seed: int = 0,
) -> Report:
    """A report for a check that could not run: it always holds one meta finding (FD9xx)."""
    doc = load_catalog().get(code)
    finding = Finding(
        code=code,
        rule=doc.slug if doc else code.lower(),
        severity="error",
        confidence="confirmed",
        message=message,
        location=location,
        evidence=dict(extra or {}),
    )
    return Report(
        version=__version__,
        script=script,
        status=status,
        findings=(finding,),
        timings=dict(timings or {}),
        error={"code": code, "message": message, **(extra or {})},
        seed=seed,
    )
