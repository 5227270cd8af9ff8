"""Weight-gradient norms per parametrised layer, on the probe batches."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from fitdoctor.batches import Batch
from fitdoctor.norms import l2_norm
from fitdoctor.replay import in_mode
from fitdoctor.training import TrainingSetup, batch_loss


@dataclass(frozen=True)
class LayerGradient:
    """The gradient of one parametrised layer's weight.

    Attributes:
        name: Qualified module name.
        grad_norm: L2 norm of the weight gradient of the mean loss over the probe batches.
        finite: Whether every gradient entry is finite.
    """

    name: str
    grad_norm: float
    finite: bool


def probe_gradients(
    model: nn.Module, setup: TrainingSetup, batches: Sequence[Batch], order: Sequence[str]
) -> tuple[list[LayerGradient], float]:
    """Gradient norms per layer (in forward order) and the mean probe loss.

    The model's gradients and mode are restored afterwards.
    """
    modules = dict(model.named_modules())
    saved = {n: (p.grad.clone() if p.grad is not None else None) for n, p in model.named_parameters()}
    with in_mode(model, True):
        model.zero_grad(set_to_none=True)
        total = 0.0
        try:
            with torch.enable_grad():
                for batch in batches:
                    loss = batch_loss(model, setup, batch) / len(batches)
                    total += float(loss.detach())
                    loss.backward()
            out: list[LayerGradient] = []
            for name in order:
                weight = getattr(modules.get(name), "weight", None)
                if not isinstance(weight, torch.Tensor) or weight.grad is None:
                    continue
                grad = weight.grad.detach()
                finite = bool(torch.isfinite(grad).all())
                norm = l2_norm(grad) if finite else math.inf
                out.append(LayerGradient(name, norm, finite))
            return out, total
        finally:
            for n, p in model.named_parameters():
                p.grad = saved.get(n)
