"""Weights updated by hand (no ``torch.optim`` optimizer): after each backward the meter keeps the trained tensors
and their gradients; at the next backward it measures the update the script applied against plain gradient
descent, lr = −⟨Δp, g⟩ / ⟨g, g⟩, and how far the update departs from it beyond float round-off."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from fitdoctor.capture.records import MANUAL_MAX_PARAMS, OptimizerRecord, unwrap_model


@dataclass(frozen=True)
class ManualUpdate:
    """One update the script applied by hand.

    Attributes:
        lr: The learning rate of the plain gradient step closest to it (NaN when not finite).
        excess: The part of the update that is not that step, relative to its size, beyond float round-off.
        stale: Whether the gradients were left in place after the update (not reset).
    """

    lr: float
    excess: float
    stale: bool


@dataclass
class ManualUpdateMeter:
    """Measures updates applied by hand between backward calls.

    Attributes:
        lrs: The learning rate of each measured update.
        residuals: How far each update departs from plain gradient descent.
        stale: Updates after which the gradients were not reset.
        start: The modules and raw tensors trained by hand, with their state before the first update.
    """

    lrs: list[float] = field(default_factory=list)
    residuals: list[float] = field(default_factory=list)
    stale: int = 0
    start: tuple[list[nn.Module], list[torch.Tensor], list[dict[str, torch.Tensor]]] | None = None
    _before: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = field(default_factory=list)

    @property
    def pending(self) -> bool:
        """Whether tensors from the last backward wait to be compared with their next values."""
        return bool(self._before)

    def value_before(self, p: torch.Tensor) -> torch.Tensor:
        """The value ``p`` had at the last backward (its current value when it was not kept)."""
        return next((b for q, b, _ in self._before if q is p), p.detach().clone())

    def remember(self, sliced: Any, first: bool) -> None:
        """After a backward: keep the trained tensors of the objective ``sliced`` and their new gradients.

        Args:
            sliced: The backpropagated objective (its modules and raw leaf tensors).
            first: Whether no update has been measured yet (the trained modules' states are kept then).
        """
        tensors: list[torch.Tensor] = list(sliced.leaves.values())
        for module in sliced.modules.values():
            tensors.extend(unwrap_model(module).parameters())
        seen: set[int] = set()
        kept = []
        for p in tensors:
            if id(p) in seen or p.grad is None or not p.requires_grad:
                continue
            seen.add(id(p))
            kept.append(p)
        if sum(p.numel() for p in kept) > MANUAL_MAX_PARAMS:
            return
        self._before = [(p, p.detach().clone(), p.grad.detach().clone()) for p in kept if p.grad is not None]
        if first and not self.start:
            roots: list[nn.Module] = []
            for module in sliced.modules.values():
                inner = unwrap_model(module)
                if any(p.grad is not None for p in inner.parameters()) and not any(inner is r for r in roots):
                    roots.append(inner)
            owned = {id(p) for r in roots for p in r.parameters()}
            leaves = [p for p in sliced.leaves.values() if id(p) not in owned and p.grad is not None]
            states = [{k: v.detach().clone() for k, v in r.state_dict().items()} for r in roots]
            self.start = (roots, leaves, states)

    def measure(self) -> ManualUpdate | None:
        """Compare the kept tensors with their values now: the update, or None when nothing changed since the
        last backward (gradient accumulation, or no update yet).

        The update is plain gradient descent when Δp + lr·g vanishes up to float round-off of the weights
        (about eps·|p| per element, which dominates when the update is tiny)."""
        num = den = change = scale = 0.0
        stale = False
        for p, before, grad in self._before:
            delta = (p.detach() - before).double()
            g = grad.double()
            num -= float((delta * g).sum())
            den += float((g * g).sum())
            change += float((delta * delta).sum())
            scale += (torch.finfo(before.dtype).eps if before.is_floating_point() else 0.0) ** 2 * float(
                before.double().pow(2).sum()
            )
            stale = stale or (p.grad is not None and bool((p.grad.detach() != 0).any()))
        if change == 0 or den == 0:
            self._before = []
            return None
        lr = num / den if math.isfinite(num / den) else math.nan
        resid = 0.0
        if math.isfinite(lr):
            for p, before, grad in self._before:
                resid += float(((p.detach() - before).double() + lr * grad.double()).pow(2).sum())
        excess = max(0.0, math.sqrt(resid) - 2 * math.sqrt(scale)) / math.sqrt(change) if math.isfinite(change) else 0.0
        return ManualUpdate(lr, excess, stale)

    def record(self, update: ManualUpdate) -> None:
        """Count a measured update as a training step."""
        if math.isfinite(update.lr):
            self.lrs.append(update.lr)
            self.residuals.append(update.excess)
        self.stale += int(update.stale)

    def first_record(self) -> OptimizerRecord | None:
        """The record of what is trained by hand, with its state before the first update (None before any)."""
        if not self.start:
            return None
        roots, leaves, states = self.start
        record = OptimizerRecord(None, 0, None, roots, leaves, states)
        record.leaf_values = [self.value_before(p) for p in leaves]
        return record

    def clear(self) -> None:
        """Forget the kept tensors."""
        self._before = []
