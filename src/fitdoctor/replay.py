"""Replays: train a fresh copy of the captured setup for a number of steps, with or without a fix, and
measure it (loss curve, final loss, error rate, gradient norms, update sizes)."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

import torch
from torch import nn

from fitdoctor.batches import Batch
from fitdoctor.norms import l2_norm, total_norm
from fitdoctor.training import (
    CLASS_LABEL_LOSSES,
    Plan,
    PlannedModel,
    TrainingSetup,
    batch_loss,
    follow_schedule,
    fresh_model,
    make_optimizers,
    predict,
    train_step,
)


class _StepProbe:
    """Between a replay step's gradients and its update: the gradient norm (a non-finite one stops the
    replay), optional clipping, and a copy of the weights for the update ratio."""

    def __init__(
        self, params: list[torch.Tensor], clip: float | None, snapshot: bool, reuse: list[torch.Tensor] | None
    ) -> None:
        self.params = params
        self.clip = clip
        self.snapshot = snapshot
        self.reuse = reuse  # an earlier step's copies, overwritten rather than allocated again
        self.norms: list[float] = []
        self.before: list[torch.Tensor] | None = None

    def __call__(self) -> bool:
        norm = _total_norm(self.params)
        self.norms.append(norm)
        if not math.isfinite(norm):
            return False
        if self.clip is not None:
            torch.nn.utils.clip_grad_norm_(self.params, self.clip)
        if self.snapshot and self.reuse is not None:
            for copy, p in zip(self.reuse, self.params, strict=True):
                copy.copy_(p.detach())
            self.before = self.reuse
        elif self.snapshot:
            self.before = [p.detach().clone() for p in self.params]
        return True


@dataclass
class ReplayResult:
    """The outcome of one replay.

    Attributes:
        plan: Which plan ran.
        steps: Steps trained.
        curve: (step, evaluation loss) pairs, in the user's loss units.
        train_losses: The training loss of each step.
        final: Evaluation loss after the last step (inf when it diverged).
        diverged: Whether the loss became NaN/Inf.
        model: The trained model (with the plan applied).
        seconds: Wall time.
        grad_norms: Total gradient norm before each step.
        update_ratios: Median over parameters of ||step|| / ||weight||, every tenth step.
        error_rate: For classifiers, the share of misclassified samples after the last step.
        stopped: Whether the replay was stopped before its planned steps because it could no longer decide
            anything (see ``fitdoctor.futility``); ``steps`` and ``final`` are then where it stopped.
        draws: When this result is the median of several draws of a plan's new weights (``Plan.draws_weights``),
            each draw's steps and last loss, in draw order (fewer steps: the draw was stopped there; inf: it
            diverged); empty for a single replay.
    """

    plan: Plan
    steps: int
    curve: list[tuple[int, float]]
    train_losses: list[float]
    final: float
    diverged: bool
    model: nn.Module
    seconds: float
    grad_norms: list[float] = field(default_factory=list)
    update_ratios: list[float] = field(default_factory=list)
    error_rate: float | None = None
    stopped: bool = False
    draws: tuple[tuple[int, float], ...] = ()


#: Draw k of a plan that draws new weights (``Plan.draw``) replays from the replay seed plus k times this.
DRAW_SEED_STEP = 7919


#: Decides, at each evaluation point of a replay, whether to stop it there: called with the curve so far and a
#: function that measures the error rate now (None for losses that have none), it returns True to stop.
StopTest = Callable[[Sequence[tuple[int, float]], Callable[[], float | None]], bool]


#: Evaluation points, at most, of a replay whose last point alone decides something (a fix replay, a target
#: control); the baseline keeps the analysis's own (24 by default). Evaluating is a forward pass over every
#: evaluation batch (up to 64) per point: on scripts with many batches as costly as the replay's training (the HF
#: Trainer example: 6.0 of 11.5 s). Evaluations draw no random number (:func:`rng_kept`), so fewer points change
#: no final loss.
DECIDING_POINTS = 8


def deciding_thin(points: int) -> int:
    """The ``thin`` that keeps at most :data:`DECIDING_POINTS` of a curve of ``points``, at a subset of the steps
    the baseline (``thin=1``) measures, so that the two compare point by point."""
    return max(1, -(-points // DECIDING_POINTS))


def cycle(batches: Sequence[Batch], steps: int) -> Iterator[Batch]:
    """The captured batches in order, repeated, for ``steps`` steps."""
    for i in range(steps):
        yield batches[i % len(batches)]


@contextlib.contextmanager
def in_mode(model: nn.Module, training: bool) -> Iterator[nn.Module]:
    """``model`` in train (or eval) mode for the block; its mode is restored afterwards, also on errors."""
    was_training = model.training
    model.train(training)
    try:
        yield model
    finally:
        model.train(was_training)


@contextlib.contextmanager
def inference(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` in eval mode and without gradients for the block; its mode is restored afterwards."""
    with in_mode(model, False), torch.no_grad():
        yield model


@contextlib.contextmanager
def rng_kept(model: nn.Module) -> Iterator[None]:
    """The random number generators (CPU, and the CUDA devices the model is on) as they were, after the block.

    An evaluation must not draw from the training's stream: a model that samples in its forward even in eval
    mode (a VAE's reparameterisation) would otherwise train differently with every evaluation point added.
    """
    devices = sorted({p.device.index or 0 for p in model.parameters() if p.device.type == "cuda"})
    with torch.random.fork_rng(devices=devices):
        yield


def evaluate(model: nn.Module, setup: TrainingSetup, batches: Sequence[Batch], plan: Plan | None = None) -> float:
    """Mean loss over ``batches`` with the model in eval mode, without gradients; it draws no random number
    from the caller's stream (see :func:`rng_kept`)."""
    with inference(model), rng_kept(model):
        total = sum(float(batch_loss(model, setup, batch, plan)) for batch in batches)
    value = total / max(len(batches), 1)
    return value if math.isfinite(value) else math.inf


def replay(
    setup: TrainingSetup,
    plan: Plan,
    steps: int,
    eval_batches: Sequence[Batch],
    points: int = 24,
    thin: int = 1,
    stop: StopTest | None = None,
) -> ReplayResult:
    """Train a fresh copy of the model under ``plan`` for ``steps`` optimizer steps and measure it.

    The loop reproduces the user's: gradient accumulation, loss scaling, and a missing ``zero_grad``
    stay as they were unless the plan overrides them.

    Args:
        setup: The captured setup.
        plan: The counterfactual (``Plan()`` for the baseline).
        steps: Optimizer steps.
        eval_batches: Batches the evaluation loss is measured on.
        points: How many evaluation points the curve holds.
        thin: Keep only every ``thin``-th of those points (and the last): the curve's steps are then a subset of
            the steps of a replay run with the same ``points`` and ``thin=1``.
        stop: Asked at each evaluation point before the last whether to stop the replay there (a fix replay that
            can no longer be verified); the error rate it may ask for draws no random number.
    """
    started = time.perf_counter()
    torch.manual_seed(setup.seed + DRAW_SEED_STEP * plan.draw)
    model = PlannedModel(fresh_model(setup, plan), plan)
    model.train(setup.train_mode if plan.train_mode is None else plan.train_mode)
    optimizers = make_optimizers(setup, model.inner, plan)
    params = [p for optimizer in optimizers for g in optimizer.param_groups for p in g["params"]]
    zero_grad = setup.zero_grad if plan.zero_grad is None else plan.zero_grad
    every = max(1, steps // points) * max(1, thin)
    curve = [(0, evaluate(model, setup, eval_batches, plan))]
    train_losses: list[float] = []
    grad_norms: list[float] = []
    update_ratios: list[float] = []
    diverged = False
    source = plan.rebatch(setup.batches) if plan.rebatch is not None else setup.batches
    batches = cycle(source, steps * setup.accumulation)
    copies: list[torch.Tensor] | None = None
    stopped = False
    measured: list[float | None] = []  # the error rate, once a stop test asked for it

    def errors_now() -> float | None:
        with rng_kept(model):
            measured.append(error_rate(model, setup, eval_batches, plan))
        return measured[-1]

    for step in range(1, steps + 1):
        follow_schedule(optimizers[0], setup, plan, step)
        group = [next(batches) for _ in range(setup.accumulation)]
        probe = _StepProbe(params, plan.clip_grad_norm, snapshot=step % 10 == 1, reuse=copies)
        value, finite = train_step(model, setup, optimizers, group, plan, zero_grad or step == 1, probe)
        train_losses.append(value)
        grad_norms.extend(probe.norms)
        if not finite:
            diverged = True
            break
        if probe.before is not None:
            update_ratios.append(_update_ratio(params, probe.before))
            copies = probe.before
        if step % every == 0 or step == steps:
            curve.append((step, evaluate(model, setup, eval_batches, plan)))
            if stop is not None and step < steps and stop(curve, errors_now):
                stopped = True
                break
    final = math.inf if diverged else curve[-1][1]
    if diverged:
        curve.append((len(train_losses), math.inf))
    errors = (
        None if diverged else measured[-1] if stopped and measured else error_rate(model, setup, eval_batches, plan)
    )
    return ReplayResult(
        plan,
        len(train_losses),
        curve,
        train_losses,
        final,
        diverged,
        model,
        time.perf_counter() - started,
        grad_norms,
        update_ratios,
        errors,
        stopped,
    )


def error_rate(
    model: nn.Module, setup: TrainingSetup, batches: Sequence[Batch], plan: Plan | None = None
) -> float | None:
    """Share of misclassified samples, for classification losses with class-index or binary targets."""
    name = setup.loss.name
    if name not in CLASS_LABEL_LOSSES:
        return None
    wrong = total = 0
    with inference(model):
        for batch in batches:
            if batch.target is None:
                return None
            out = predict(model, batch)
            target = batch.target
            if name in ("cross_entropy", "nll_loss"):
                if target.is_floating_point() or out.ndim < 2:
                    return None
                guess = out.argmax(1)
            else:
                threshold = 0.0 if name.endswith("logits") else 0.5
                guess = (out > threshold).to(target.dtype)
                target = (target > 0.5).to(target.dtype)
            if guess.shape != target.shape:
                return None
            wrong += int((guess != target).sum())
            total += target.numel()
    return wrong / total if total else None


def _total_norm(params: Sequence[torch.Tensor]) -> float:
    return total_norm([p.grad for p in params if p.grad is not None])


def _update_ratio(params: Sequence[torch.Tensor], before: Sequence[torch.Tensor]) -> float:
    """The median over tensors of |update| / |weight|; ``before`` (the weights before the step) is used up:
    it holds minus the updates afterwards."""
    ratios = []
    for p, b in zip(params, before, strict=True):
        weight = l2_norm(b)
        if weight > 0:
            ratios.append(l2_norm(b.sub_(p.detach())) / weight)
    return float(sorted(ratios)[len(ratios) // 2]) if ratios else 0.0


def portable(result: ReplayResult) -> tuple[ReplayResult, dict[str, torch.Tensor]]:
    """A replay's result as it travels from a worker process: without its plan (functions) and model, with the
    trained weights instead (see :func:`restored`)."""
    state = {k: v.detach().clone() for k, v in result.model.state_dict().items()}
    return replace(result, plan=Plan(), model=nn.Module()), state


def restored(setup: TrainingSetup, plan: Plan, packed: tuple[ReplayResult, dict[str, torch.Tensor]]) -> ReplayResult:
    """The inverse of :func:`portable`: the plan back, and the trained model rebuilt from its weights."""
    result, state = packed
    with torch.random.fork_rng(devices=[]):  # a plan's model edits may draw new layers' weights
        model = PlannedModel(fresh_model(setup, plan), plan)
    model.load_state_dict(state)
    model.train(setup.train_mode if plan.train_mode is None else plan.train_mode)
    return replace(result, plan=plan, model=model)
