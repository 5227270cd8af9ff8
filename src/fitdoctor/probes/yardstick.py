"""Karpathy's input-independent yardstick for a recorded objective, in the user's own loss units.

For a script whose objective is replayed as a program (hand-written losses, several terms, manual
scaling such as ``/ len(x)``, ``reduction="sum"``), the yardstick is the program itself, run with the
model's prediction replaced by the best constant (the mean target, the median, the class prior) and its
other outputs by zeros (a VAE's mean and log-variance at 0 give a KL term of 0). Whatever reduction and
scaling the script applies, the yardstick gets the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from fitdoctor.batches import Batch
from fitdoctor.capture.tape import rebuild, run, select, walk
from fitdoctor.probes.data import TargetStats, constant_prediction_loss
from fitdoctor.replay import inference
from fitdoctor.training import CLASS_LABEL_LOSSES, TrainingSetup, unwrap

#: Losses of absolute errors: the best constant is the median target.
MEDIAN_LOSSES = ("l1_loss", "smooth_l1_loss", "huber_loss")


def constant_words(name: str) -> str:
    """What the best constant prediction is for loss ``name``, in words: the mean target (squared error), the
    median target (absolute errors), the class prior (cross-entropy, NLL, binary cross-entropy), or "the best
    constant" for any other objective (a hand-written or multi-term loss)."""
    if name == "mse_loss":
        return "the mean target"
    if name in MEDIAN_LOSSES:
        return "the median target"
    if name in CLASS_LABEL_LOSSES:
        return "the class prior"
    return "the best constant"


def constant_for(
    name: str, targets: TargetStats, batches: Sequence[Batch]
) -> Callable[[tuple[int, ...]], torch.Tensor] | None:
    """A function of the prediction's shape giving the best constant prediction for loss ``name``."""
    if name == "mse_loss":
        columns = _column_means(batches)
        return lambda shape: _fill(shape, columns)
    if name in MEDIAN_LOSSES:
        median = float(targets.values.median())
        return lambda shape: torch.full(shape, median)
    if name in ("binary_cross_entropy", "binary_cross_entropy_with_logits"):
        p = min(max(targets.mean, 1e-7), 1 - 1e-7)
        value = math.log(p / (1 - p)) if name.endswith("logits") else p
        return lambda shape: torch.full(shape, value)
    if name in ("cross_entropy", "nll_loss") and targets.integer:
        counts = torch.bincount(targets.values.long().clamp(min=0)).double()
        log_prior = (counts.clamp(min=1e-12) / counts.sum()).log().float()

        def classes(shape: tuple[int, ...]) -> torch.Tensor:
            if len(shape) < 2:
                return torch.zeros(shape)
            c = shape[1]
            row = torch.full((c,), -1e4)
            row[: min(c, log_prior.numel())] = log_prior[:c]
            view = [1] * len(shape)
            view[1] = c
            return row.reshape(view).expand(shape).clone()

        return classes
    return None


def _column_means(batches: Sequence[Batch]) -> torch.Tensor | None:
    tables = [b.target.detach().double() for b in batches if b.target is not None and b.target.is_floating_point()]
    if not tables:
        return None
    columns = tables[0].shape[-1] if tables[0].ndim >= 2 else 1
    try:
        table = torch.cat([t.reshape(-1, columns) for t in tables])
    except RuntimeError:
        return None
    table = table[torch.isfinite(table).all(1)]
    return table.mean(0).float() if table.numel() else None


def _fill(shape: tuple[int, ...], columns: torch.Tensor | None) -> torch.Tensor:
    if columns is None:
        return torch.zeros(shape)
    if len(shape) >= 1 and shape[-1] == columns.numel():
        return columns.expand(shape).clone()
    return torch.full(shape, float(columns.mean()))


def program_constant_loss(setup: TrainingSetup, batches: Sequence[Batch], targets: TargetStats | None) -> float | None:
    """The mean over ``batches`` of the recorded objective with the prediction replaced by the best
    constant (see the module docstring); None when the loss kind or the prediction is not known."""
    if targets is None:
        return None
    if batches and all(b.target_op is None and b.target is not None for b in batches):
        # The loss is computed inside the model's forward, from its own prediction: the yardstick is that
        # loss on the best constant, with its reduction.
        return constant_prediction_loss(batches, setup.loss, targets)
    constant = constant_for(setup.loss.name, targets, batches)
    if constant is None:
        return None
    model = setup.model
    values = []
    distinct = list({id(b): b for b in batches}.values())
    try:
        with inference(model):
            for batch in distinct:
                value = _constant_run(model, batch, constant)
                if value is None:
                    return None
                values.append(value)
    except (RuntimeError, TypeError, ValueError, IndexError, KeyError):
        return None
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else None


def _constant_run(model: nn.Module, batch: Batch, constant: Callable[[tuple[int, ...]], torch.Tensor]) -> float | None:
    program = batch.program
    if program is None or batch.consts is None:
        return None
    inner = unwrap(model)
    params = dict(inner.named_parameters())

    def call(key: str, index: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        module = program.fixed.get(key) or (inner if not key else inner.get_submodule(key))
        out = module(*args, **kwargs)
        if index != batch.primary:
            return out
        target = select(out, tuple(batch.output_path)) if batch.output_path else out
        if not isinstance(target, torch.Tensor):
            return out
        pred = constant(batch.pred_shape or tuple(target.shape)).to(target.dtype)
        fill = pred.reshape(target.shape) if pred.numel() == target.numel() else pred.expand_as(target)
        replaced = {p: (fill if tuple(p) == tuple(batch.output_path) else torch.zeros_like(t)) for p, t in walk(out)}
        return rebuild(out, replaced)

    value = run(program, batch.consts, call, params.__getitem__)
    return float(value) if isinstance(value, torch.Tensor) and value.numel() == 1 else None
