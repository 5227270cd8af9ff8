"""Statistics of the inputs and targets the script trains on."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from fitdoctor.batches import Batch

if TYPE_CHECKING:
    from fitdoctor.training import LossSpec


@dataclass(frozen=True)
class FeatureStats:
    """One input feature (column, or channel for images)."""

    index: int
    mean: float
    std: float
    low: float
    high: float

    @property
    def scale(self) -> float:
        """max(|mean|, std): how far the feature is from unit scale."""
        return max(abs(self.mean), self.std)


@dataclass(frozen=True)
class TargetStats:
    """The loss targets."""

    count: int
    mean: float
    std: float
    low: float
    high: float
    integer: bool
    values: torch.Tensor  # flattened sample, float64
    column_variance: float = 0.0  # mean over output columns of each column's variance


def feature_matrix(x: torch.Tensor) -> torch.Tensor:
    """Inputs as (samples, features): columns for tables, channels for images, last dim for sequences."""
    if x.ndim <= 1:
        return x.reshape(1, -1)
    if x.ndim in (2, 3):
        return x.reshape(-1, x.shape[-1])
    return x.movedim(1, -1).reshape(-1, x.shape[1])


def input_stats(batches: Sequence[Batch], max_rows: int = 200_000) -> list[FeatureStats] | None:
    """Per-feature statistics of the model's first positional input, when it is a float tensor."""
    rows: list[torch.Tensor] = []
    count = 0
    for batch in batches:
        x = batch.args[0] if batch.args else None
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            return None
        m = feature_matrix(x.detach()).double()
        if rows and m.shape[1] != rows[0].shape[1]:
            return None
        rows.append(m)
        count += m.shape[0]
        if count >= max_rows:
            break
    if not rows:
        return None
    data = torch.cat(rows)
    finite = torch.isfinite(data)
    out = []
    for j in range(data.shape[1]):
        col = data[:, j][finite[:, j]]
        if col.numel() == 0:
            continue
        out.append(
            FeatureStats(j, float(col.mean()), float(col.std(unbiased=False)), float(col.min()), float(col.max()))
        )
    return out


def target_stats(batches: Sequence[Batch], max_values: int = 200_000) -> TargetStats | None:
    """Statistics of the loss targets (None for hand-written losses)."""
    parts = []
    columns = []
    integer = True
    count = 0
    for batch in batches:
        if batch.target is None:
            return None
        t = batch.target.detach()
        integer = integer and not t.is_floating_point()
        parts.append(t.reshape(-1).double())
        columns.append(t.reshape(-1, t.shape[-1] if t.ndim >= 2 else 1).double())
        count += t.numel()
        if count >= max_values:
            break
    if not parts:
        return None
    values = torch.cat(parts)
    values = values[torch.isfinite(values)]
    if values.numel() == 0:
        return None
    column_variance = values.var(unbiased=False)
    if len({c.shape[1] for c in columns}) == 1:
        table = torch.cat(columns)
        table = table[torch.isfinite(table).all(1)]
        if table.shape[0] > 1:
            column_variance = table.var(0, unbiased=False).mean()
    return TargetStats(
        int(values.numel()),
        float(values.mean()),
        float(values.std(unbiased=False)),
        float(values.min()),
        float(values.max()),
        integer,
        values,
        float(column_variance),
    )


def constant_prediction_loss(batches: Sequence[Batch], loss: LossSpec, targets: TargetStats | None) -> float | None:
    """The input-independent baseline: the loss of always predicting the best constant (the mean target,
    the class prior), with the user's reduction (``sum`` adds up over each batch's elements).

    Karpathy's yardstick (A Recipe for Training Neural Networks, 2019): a model that learns anything
    beats the best constant.
    """
    per_element = _constant_loss(loss.name, targets)
    if per_element is None or loss.reduction != "sum":
        return per_element
    distinct = list({id(b): b for b in batches if b.target is not None}.values())
    if not distinct:
        return per_element
    classes = loss.name in ("cross_entropy", "nll_loss")
    sizes = [
        (b.target.shape[0] if classes and b.target.ndim else b.target.numel()) for b in distinct if b.target is not None
    ]
    return per_element * sum(sizes) / len(sizes)


def _constant_loss(loss_name: str, targets: TargetStats | None) -> float | None:
    if targets is None:
        return None
    if loss_name == "mse_loss":
        return targets.column_variance
    if loss_name == "l1_loss":
        median = float(targets.values.median())
        return float((targets.values - median).abs().mean())
    if loss_name in ("smooth_l1_loss", "huber_loss"):
        median = float(targets.values.median())
        d = (targets.values - median).abs()
        return float(torch.where(d < 1, 0.5 * d**2, d - 0.5).mean())
    if loss_name in ("binary_cross_entropy", "binary_cross_entropy_with_logits"):
        p = min(max(targets.mean, 1e-7), 1 - 1e-7)
        v = targets.values
        return float(-(v * math.log(p) + (1 - v) * math.log(1 - p)).mean())
    if loss_name in ("cross_entropy", "nll_loss") and targets.integer:
        counts = torch.bincount(targets.values.long().clamp(min=0))
        prior = counts[counts > 0].double() / counts.sum()
        return float(-(prior * prior.log()).sum())
    return None


@dataclass(frozen=True)
class NonFinite:
    """Non-finite values in the captured data.

    Attributes:
        input_values: NaN/Inf values in the model inputs.
        target_values: NaN/Inf values in the targets.
        features: Input features (columns) that hold them.
        batches: Indexes of the captured batches that hold them.
        total_values: Values inspected.
    """

    input_values: int
    target_values: int
    features: list[int]
    batches: list[int]
    total_values: int


def nonfinite_data(batches: Sequence[Batch]) -> NonFinite:
    """Count NaN/Inf in the float inputs and targets of the distinct captured batches."""
    inputs = targets = total = 0
    features: set[int] = set()
    where: list[int] = []
    seen: set[int] = set()
    for index, batch in enumerate(batches):
        if id(batch) in seen:
            continue
        seen.add(id(batch))
        bad_here = False
        for arg in batch.args:
            if isinstance(arg, torch.Tensor) and arg.is_floating_point():
                total += arg.numel()
                bad = ~torch.isfinite(arg)
                if bool(bad.any()):
                    inputs += int(bad.sum())
                    bad_here = True
                    cols = feature_matrix(bad)
                    features.update(int(j) for j in torch.nonzero(cols.any(0)).flatten())
        t = batch.target
        if isinstance(t, torch.Tensor) and t.is_floating_point():
            total += t.numel()
            bad_t = int((~torch.isfinite(t)).sum())
            targets += bad_t
            bad_here = bad_here or bad_t > 0
        if bad_here:
            where.append(index)
    return NonFinite(inputs, targets, sorted(features), where, total)
