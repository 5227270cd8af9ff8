"""From a finished :class:`Recorder` to a :class:`TrainingSetup`, or to the reason there is none.

Shared by the script runner (child process) and the in-process Python API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fitdoctor.capture.notes import capture_notes
from fitdoctor.capture.objective import find_terms, is_simple
from fitdoctor.capture.programs import LOSS_NAMES, accumulation, build_programs, median
from fitdoctor.capture.recorder import Recorder
from fitdoctor.capture.records import STAGE_GAP, unwrap_model
from fitdoctor.capture.userframes import Site
from fitdoctor.evidence import Locator
from fitdoctor.rules._meta import NO_TRAINING_STEP, SCHEDULER_MISUSE, UNSUPPORTED_SETUP
from fitdoctor.summary import LoopSummary
from fitdoctor.training import LossSpec, TrainingSetup


@dataclass
class Captured:
    """A setup ready for analysis.

    Attributes:
        setup: What was trained.
        locate: Maps captured sites to the user's lines.
        training: What the capture saw of the user's loop.
        notes: What was sampled or left out.
    """

    setup: TrainingSetup
    locate: Locator
    training: LoopSummary
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Problem:
    """Why a capture can't be analysed: a meta finding (FD902/FD903)."""

    code: str
    status: str
    message: str
    extra: dict[str, Any]
    site: Site | None = None


def problem(recorder: Recorder, what: str, budget: float | None = None, exit_code: Any = None) -> Problem | None:
    """The reason ``recorder``'s capture can't be analysed, or None when it can.

    Args:
        recorder: The finished recorder.
        what: How to name the checked code in messages (the script's path, or "the training code").
        budget: The time budget, mentioned when no step was reached.
        exit_code: The script's ``sys.exit`` code, if it called it.
    """
    if recorder.stops.failure is not None:
        return Problem(
            UNSUPPORTED_SETUP,
            "unsupported",
            f"{what}: {recorder.stops.failure}; the check stopped after {recorder.steps} training steps",
            {"steps": recorder.steps},
        )
    if recorder.store.empty_batches and not recorder.store.batches and not recorder.store.programs:
        return Problem(
            NO_TRAINING_STEP,
            "no-step",
            f"{what} trained only on batches with zero rows: there is no data to measure",
            {"steps": recorder.steps},
        )
    if recorder.target_stage > recorder.stage:
        return Problem(
            NO_TRAINING_STEP,
            "no-step",
            f"{what} trains in {recorder.stages_seen} stage(s), so there is no stage {recorder.target_stage} to "
            "check (a stage starts when a new optimizer begins stepping after the previous ones took more than "
            f"{STAGE_GAP} steps)",
            {"stages": recorder.stages_seen},
        )
    if not recorder.records and recorder.facts.backward_total:
        if recorder.manual.lrs or recorder.steps:
            return None
        if recorder.schedulers.calls:
            return _scheduler_without_step(recorder, what)
        return Problem(
            NO_TRAINING_STEP,
            "no-step",
            (
                f"{what} computes gradients ({recorder.facts.backward_total} backward calls) but neither calls step() on "
                "a torch.optim optimizer nor changes the weights between backward calls, so no training step could "
                "be watched"
            ),
            {"backward_calls": recorder.facts.backward_total},
        )
    if not recorder.records or recorder.steps == 0:
        why = (
            "it never called optimizer.step() on a torch.optim optimizer"
            if not recorder.records
            else "no optimizer step completed"
        )
        if exit_code not in (None, 0):
            why += f" (the script exited with sys.exit({exit_code!r}))"
        message = (
            f"{what} finished without a training step that fitdoctor could watch: {why}. fitdoctor needs a loop "
            "that calls the model, a loss, backward() and optimizer.step() (or updates the weights by hand)"
        )
        if budget is not None:
            message += f" within the time budget ({budget:g} s)"
        return Problem(NO_TRAINING_STEP, "no-step", message, {"steps": recorder.steps})
    if _use_programs(recorder):
        return _program_problem(recorder, what)
    unsupported = _unsupported(recorder)
    if unsupported:
        return Problem(UNSUPPORTED_SETUP, "unsupported", f"{what}: {unsupported}", {"steps": recorder.steps})
    return None


def _scheduler_without_step(recorder: Recorder, what: str) -> Problem:
    """The script steps a learning-rate scheduler where it should step its optimizer."""
    watch = recorder.schedulers
    where = f" (first at line {watch.site.line})" if watch.site else ""
    return Problem(
        SCHEDULER_MISUSE,
        "no-step",
        (
            f"{what} calls {watch.names[0]}.step() {watch.calls} times{where} and backward() "
            f"{recorder.facts.backward_total} times, but never optimizer.step(): a scheduler only sets the "
            "optimizer's learning rate and the weights change only in optimizer.step(), so nothing is trained. Call "
            "optimizer.step() after each backward(), and scheduler.step() after it (once per epoch for a schedule "
            "counted in epochs)"
        ),
        {"backward_calls": recorder.facts.backward_total, "scheduler_steps": watch.calls},
        watch.site,
    )


def _program_problem(recorder: Recorder, what: str) -> Problem | None:
    """Why the recorded objectives can't be replayed, or None when they can."""
    if not any(b.optimizer == 0 for b in recorder.store.programs):
        return Problem(
            UNSUPPORTED_SETUP,
            "unsupported",
            f"{what}: the backpropagated loss could not be traced to the model's output (is it computed in another "
            "thread, or from tensors copied out of the graph?): no traced loss feeds the first optimizer's steps",
            {"steps": recorder.steps},
        )
    manual = recorder.records[0].opt is None
    if manual and recorder.manual.residuals:
        residual = median(recorder.manual.residuals, 0.0)
        if residual > MANUAL_TOLERANCE:
            return Problem(
                UNSUPPORTED_SETUP,
                "unsupported",
                (
                    f"{what} updates the weights by hand with a rule other than plain gradient descent (the change "
                    f"of the weights differs from a multiple of their gradient by {residual:.0%}, e.g. momentum or "
                    "Adam written by hand), which fitdoctor can't replay yet; use the torch.optim optimizer that "
                    "does the same update"
                ),
                {"steps": recorder.steps, "residual": residual},
            )
    return None


#: Weights updated by hand count as plain SGD when Δp = −lr·∇ holds to this relative residual (float32
#: round-off of the update leaves ~1e-7; momentum or Adam leave tens of percent).
MANUAL_TOLERANCE = 0.01


def _use_programs(recorder: Recorder) -> bool:
    """Whether the replay runs the recorded objectives rather than the single loss call."""
    if not recorder.store.programs:
        return False
    if recorder.records[0].opt is None or len(recorder.records) > 1 or recorder.records[0].closure:
        return True
    if (
        recorder.loss is None
        or recorder.loss.transform == "other"
        or not recorder.store.batches
        or recorder.model is None
    ):
        return True
    first = [b for b in recorder.store.programs if b.optimizer == 0]
    return not all(
        is_simple(b.sliced, find_terms(b.sliced, LOSS_NAMES)) and _only(b.sliced, recorder.model) for b in first
    )


def _only(sliced: Any, model: Any) -> bool:
    modules = list(sliced.modules.values())
    return len(modules) == 1 and unwrap_model(modules[0]) is unwrap_model(model)


def _unsupported(recorder: Recorder) -> str | None:
    """Why a capture without a recorded objective can't be replayed by the classic path, or None."""
    if recorder.model is not None and recorder.loss is not None and recorder.loss.transform != "other":
        return None if recorder.store.batches else "no (input, target) batch could be captured"
    if recorder.loss is not None and recorder.loss.transform == "other":
        detail = f"the loss is computed on a transformation of the model output ({', '.join(recorder.loss.transform_ops[:4])})"
    elif recorder.model is None:
        detail = "the optimizer's parameters belong to no module called in the training step"
    else:
        detail = "no loss call was made on the model's output"
    return (
        "the backpropagated loss could not be traced to the model's output (is it computed in another thread, "
        f"or from tensors copied out of the graph?): {detail}"
    )


def build(recorder: Recorder, seed: int, display_root: str | None) -> Captured:
    """The captured setup (call only when :func:`problem` returned None)."""
    if _use_programs(recorder):
        built = build_programs(recorder, seed, display_root)
        return Captured(built.setup, built.locate, built.training, built.notes)
    assert recorder.model is not None and recorder.loss is not None and recorder.initial_state is not None
    assert recorder.optimizer is not None
    model = unwrap_model(recorder.model)
    names = {m: n for n, m in model.named_modules()}
    module_sites = {names[m]: recorder.sites.of_module(m) for m in names if recorder.sites.of_module(m)}
    model_sites = recorder.sites.of_module(model)
    model_site = next((s for s in model_sites if s.function != "__init__"), model_sites[0] if model_sites else None)
    locate = Locator(
        display_root=display_root,
        module_sites=module_sites,
        model=model_site,
        optimizer=recorder.optimizer_site,
        loss=recorder.loss.site,
        model_call=recorder.model_call_site,
        init_sites=recorder.init_sites,
        original=recorder.user_files.original,
        scheduler=recorder.schedulers.site,
    )
    setup = TrainingSetup(
        model=model,
        initial_state=recorder.initial_state,
        optimizer_cls=type(recorder.optimizer),
        optimizer_groups=recorder.optimizer_groups,
        loss=LossSpec(recorder.loss.name, recorder.loss.kwargs, recorder.loss.transform),
        batches=recorder.store.batches,
        user_losses=recorder.facts.user_losses,
        seed=seed,
        zero_grad=recorder.facts.stale_steps <= 0.5 * recorder.facts.single_backward_steps,
        accumulation=accumulation(recorder.facts.backward_calls),
        loss_scale=median(recorder.facts.loss_scales, 1.0),
        train_mode=recorder.facts.eval_mode_steps <= 0.5 * max(recorder.steps, 1),
        lr_schedule=recorder.facts.lr_schedule(),
    )
    notes = capture_notes(recorder)
    if recorder.other_optimizers:
        params = sum(p.numel() for p in model.parameters())
        where = f", created at line {model_site.line}" if model_site else ""
        notes.append(
            f"several optimizers: checked the model the first one trains ({type(model).__name__}, {params:,} "
            f"parameters{where}); the model(s) of the other {len(recorder.other_optimizers)} "
            f"({', '.join(recorder.other_optimizers)}) were not checked"
        )
    return Captured(setup, locate, recorder.training_summary(), notes)
