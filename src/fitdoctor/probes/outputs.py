"""How much the model's output varies across inputs, against how much the targets do."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from fitdoctor.batches import Batch
from fitdoctor.replay import in_mode, inference
from fitdoctor.training import TrainingSetup, predict

CLASS_LOSSES = ("cross_entropy", "nll_loss")


def _as_probabilities(
    setup: TrainingSetup, pred: torch.Tensor, target: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    name = setup.loss.name
    if name in CLASS_LOSSES and pred.ndim >= 2:
        probs = pred.softmax(1) if name == "cross_entropy" else pred.exp()
        probs = probs.movedim(1, -1).reshape(-1, pred.shape[1])
        if not target.is_floating_point():
            onehot = F.one_hot(target.long().clamp(0, pred.shape[1] - 1).reshape(-1), pred.shape[1]).double()
        else:
            onehot = target.movedim(1, -1).reshape(-1, pred.shape[1]).double()
        return probs.double(), onehot
    if name == "binary_cross_entropy_with_logits":
        return torch.sigmoid(pred).reshape(pred.shape[0], -1).double(), target.reshape(target.shape[0], -1).double()
    rows = pred.shape[0] if pred.ndim else 1
    return pred.reshape(rows, -1).double(), target.reshape(rows, -1).double()


def prediction_spread(model: nn.Module, setup: TrainingSetup, batches: Sequence[Batch]) -> tuple[float, float] | None:
    """(std of the predictions across inputs, std of the targets), averaged over output columns.

    Classifiers are compared as probabilities against one-hot targets. None when shapes don't allow it.
    """
    preds, targets = [], []
    try:
        with inference(model):
            for batch in batches:
                if batch.target is None:
                    return None
                p, t = _as_probabilities(setup, predict(model, batch).detach(), batch.target.detach())
                if p.shape != t.shape:
                    return None
                preds.append(p)
                targets.append(t)
    except (RuntimeError, IndexError, ValueError):
        return None
    if not preds or len({p.shape[1] for p in preds}) != 1:
        return None
    p_all, t_all = torch.cat(preds), torch.cat(targets)
    finite = torch.isfinite(p_all).all(1) & torch.isfinite(t_all).all(1)
    p_all, t_all = p_all[finite], t_all[finite]
    if p_all.shape[0] < 2:
        return None
    return float(p_all.std(0, unbiased=False).mean()), float(t_all.std(0, unbiased=False).mean())


def output_moments(model: nn.Module, setup: TrainingSetup, batches: Sequence[Batch]) -> tuple[float, float] | None:
    """(mean, std) of the prediction the loss sees, over every finite element of ``batches``' predictions.

    The model runs in train mode, as it trains (an eval-mode BatchNorm at init would normalise with its
    initial running statistics, not the batch's), without gradients; its buffers (running statistics) are
    restored afterwards. None when the prediction is not a float tensor or no element is finite.
    """
    total, total_sq, count = 0.0, 0.0, 0
    shift: float | None = None  # the first batch's mean: sums of squares about it don't cancel catastrophically
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    try:
        with in_mode(model, True), torch.no_grad():
            for batch in batches:
                pred = predict(model, batch).detach()
                if not pred.is_floating_point():
                    return None
                values = pred.double().reshape(-1)
                values = values[torch.isfinite(values)]
                if shift is None and values.numel():
                    shift = float(values.mean())
                values = values - (shift or 0.0)
                total += float(values.sum())
                total_sq += float((values * values).sum())
                count += values.numel()
    except (RuntimeError, IndexError, ValueError, TypeError):
        return None
    finally:
        with torch.no_grad():
            for buffer, saved in buffers:
                buffer.copy_(saved)
    if count == 0:
        return None
    mean = total / count
    return mean + (shift or 0.0), max(total_sq / count - mean * mean, 0.0) ** 0.5
