"""The learning-rate range test (Smith 2017), run on a fresh copy of the captured setup."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from fitdoctor.replay import cycle, evaluate
from fitdoctor.training import Plan, PlannedModel, TrainingSetup, fresh_model, make_optimizers, train_step

START_LR = 1e-7
END_LR = 10.0
STEPS = 100
#: torch-lr-finder's default smooth_f = 0.05, bias-corrected here.
SMOOTHING = 0.95
#: Distinct captured batches the loss is measured on after each step (torch-lr-finder's val_loader mode).
PROBE_BATCHES = 8


@dataclass(frozen=True)
class RangeTest:
    """Outcome of a learning-rate range test.

    Attributes:
        lrs: Learning rate of each step.
        losses: Smoothed loss on the fixed probe batches after each step (bias-corrected moving average).
        best_lr: The learning rate at the lowest smoothed loss.
        suggested_lr: ``best_lr / 10`` (the fastai "minimum / 10" suggestion).
        diverged_at: The learning rate at which the loss exceeded ``divergence_factor`` × its minimum.
    """

    lrs: list[float]
    losses: list[float]
    best_lr: float
    suggested_lr: float
    diverged_at: float | None


def lr_range_test(setup: TrainingSetup, divergence_factor: float, steps: int = STEPS) -> RangeTest | None:
    """Raise the learning rate exponentially from 1e-7 to 10 over ``steps`` steps from the initial
    weights, and stop once the smoothed loss exceeds ``divergence_factor`` × its minimum.

    After each step the loss is measured on the same few distinct captured batches, not on the batch
    just trained on: in a per-sample loop consecutive batches differ far more than learning rates do.

    Returns None when the optimizer has no learning rate.
    """
    if setup.lr is None or not setup.batches:
        return None
    torch.manual_seed(setup.seed)
    model = PlannedModel(fresh_model(setup), Plan())
    optimizers = make_optimizers(setup, model.inner, lr=START_LR)
    factor = (END_LR / START_LR) ** (1 / max(steps - 1, 1))
    lrs: list[float] = []
    losses: list[float] = []
    average = 0.0
    best = math.inf
    best_lr = START_LR
    diverged_at = None
    lr = START_LR
    skip = max(1, steps // 10)  # the first steps' average is mostly noise (fastai skips the first 10 %)
    probe = list({id(b): b for b in setup.batches}.values())[:PROBE_BATCHES]
    for i, batch in enumerate(cycle(setup.batches, steps)):
        for optimizer in optimizers:
            for group in optimizer.param_groups:
                group["lr"] = lr
        _, finite = train_step(model, setup, optimizers, [batch])
        if not finite:
            diverged_at = lr
            break
        value = evaluate(model, setup, probe)
        if not math.isfinite(value):
            diverged_at = lr
            break
        average = SMOOTHING * average + (1 - SMOOTHING) * value
        smoothed = average / (1 - SMOOTHING ** (i + 1))
        lrs.append(lr)
        losses.append(smoothed)
        if i >= skip and smoothed < best:
            best, best_lr = smoothed, lr
        if i > skip and best > 0 and smoothed > divergence_factor * best:
            diverged_at = lr
            break
        lr *= factor
    if not losses or not math.isfinite(best):
        return None
    # The last points before divergence are unreliable too (fastai drops the last 5).
    tail = losses[skip:-5] if len(losses) > skip + 5 else losses[skip:]
    if tail:
        best_index = skip + min(range(len(tail)), key=tail.__getitem__)
        best_lr = lrs[best_index]
    return RangeTest(lrs, losses, best_lr, best_lr / 10, diverged_at)
