"""Karpathy's check: can the setup drive one small batch's loss far below the input-independent baseline?"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from fitdoctor.batches import Batch, batch_tensors, select_rows
from fitdoctor.probes.data import constant_prediction_loss, target_stats
from fitdoctor.probes.yardstick import program_constant_loss
from fitdoctor.training import Plan, PlannedModel, TrainingSetup, batch_loss, fresh_model, make_optimizer


@dataclass(frozen=True)
class OverfitResult:
    """The best of the overfit runs.

    Attributes:
        samples: Samples in the batch.
        steps: Steps per run.
        lr: The learning rate of the best run.
        start: The batch's loss at init.
        best: The lowest loss reached on the batch.
        baseline: The input-independent baseline loss on the same batch.
        optimizer: The optimizer of the best run.
        tail_decrease: How much the best run's loss still fell over its last half (1 − last/middle).
        decided_at: The step at which the best run's loss fell to ``memorised`` times the baseline, which
            decides the check (the setup can memorise), so no further step or run was needed (None when no
            run got there).
    """

    samples: int
    steps: int
    lr: float
    start: float
    best: float
    baseline: float
    optimizer: str = ""
    tail_decrease: float = 0.0
    decided_at: int | None = None


def small_batch(batch: Batch, size: int) -> Batch | None:
    """``size`` samples spread evenly over a batch (None when its inputs have no common batch dimension).

    Evenly spaced rather than the first ones: data sorted by class or by x would otherwise give a batch of
    one class, or one end of the curve, whose constant baseline is already near zero."""
    tensors = batch_tensors(batch)
    if not tensors or batch.target is None or not batch.pred_shape:
        return None
    n = batch.pred_shape[0]
    if batch.program is None and any(t.ndim == 0 or t.shape[0] != n for t in tensors):
        return None
    k = min(size, n)
    index = torch.linspace(0, n - 1, k).round().long()
    return select_rows(batch, index, n)


#: A later run counts as better only when its lowest loss is lower by more than this share: runs that end at the
#: same loss (both collapsed onto the constant, say) differ in the last bits from one CPU's float kernels to
#: another's, and the tie keeps the earlier run (the user's own rate first).
TIE = 1e-4


def overfit_one_batch(
    setup: TrainingSetup,
    size: int,
    steps: int,
    lrs: list[float],
    adam_lrs: tuple[float, ...] = (),
    memorised: float = 0.0,
) -> OverfitResult | None:
    """Train on one small batch with the user's optimizer at each of ``lrs`` and with Adam at each of
    ``adam_lrs``, and keep the best run.

    The check asks whether *any* run gets the batch's loss down to ``memorised`` times the input-independent
    baseline (FD602's ``overfit_share``); the lowest loss only falls, so the first run to get there decides
    it, and the runs stop there (0: every run trains all its steps). A healthy model memorises within a few
    dozen steps of its first run instead of paying for four runs of ``steps``."""
    if not setup.batches:
        return None
    batch = small_batch(setup.batches[0], size)
    if batch is None:
        return None
    if setup.programmed:
        baseline = program_constant_loss(setup, [batch], target_stats([batch]))
        overall = program_constant_loss(setup, setup.batches, target_stats(setup.batches))
    else:
        baseline = constant_prediction_loss([batch], setup.loss, target_stats([batch]))
        overall = constant_prediction_loss(setup.batches, setup.loss, target_stats(setup.batches))
    if baseline is None or (overall and baseline < 1e-3 * overall):
        return None  # the targets are (nearly) constant on this batch: nothing to memorise
    best: OverfitResult | None = None
    runs = [(lr, False) for lr in lrs] + [(lr, True) for lr in adam_lrs]
    for lr, adam in runs:
        torch.manual_seed(setup.seed)
        model = PlannedModel(fresh_model(setup), Plan())
        optimizer = (
            torch.optim.Adam(model.inner.parameters(), lr=lr) if adam else make_optimizer(setup, model.inner, lr=lr)
        )
        start = lowest = math.inf
        values: list[float] = []

        def loss_and_gradients(optimizer: torch.optim.Optimizer = optimizer, model: PlannedModel = model) -> Any:
            optimizer.zero_grad(set_to_none=True)
            loss = batch_loss(model, setup, batch)
            if math.isfinite(float(loss.detach())):
                loss.backward()
            return loss

        closure = setup.closure[0] and not adam
        decided_at = None
        for step in range(steps):
            value = float(loss_and_gradients().detach())
            if not math.isfinite(value):
                break
            if step == 0:
                start = value
            lowest = min(lowest, value)
            values.append(value)
            if memorised > 0 and lowest <= memorised * baseline:
                decided_at = step
                break
            optimizer.step(loss_and_gradients) if closure else optimizer.step()
        if decided_at is not None or best is None or lowest < (1 - TIE) * best.best:
            best = OverfitResult(
                int(batch.pred_shape[0]),
                steps,
                lr,
                start,
                lowest,
                baseline,
                "Adam" if adam else setup.optimizer_cls.__name__,
                _tail_decrease(values),
                decided_at,
            )
        if decided_at is not None:
            break
    return best


def _tail_decrease(values: list[float]) -> float:
    """1 − (loss at the end) / (loss half-way): how much a run was still falling."""
    if len(values) < 4:
        return 0.0
    middle, end = values[len(values) // 2], min(values[-max(1, len(values) // 10) :])
    return 1.0 - end / middle if middle > 0 and math.isfinite(middle) and math.isfinite(end) else 0.0
