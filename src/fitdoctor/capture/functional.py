"""Objectives computed with ``torch.func`` transforms (per-sample gradients: ``vmap(grad(loss_fn))``).

Such a script never calls ``backward()``: it assigns ``p.grad`` itself from the per-sample gradients and
steps a ``torch.optim`` optimizer. The capture records the call of the vmapped gradient function with its
arguments; the replay trains on ``vmap(loss_fn)(...)``'s mean with ordinary autograd (the mean of
per-sample gradients is the gradient of the mean loss), scaled by what the script's assigned gradient
measured against that reference at the first step (``.sum(0)`` instead of ``.mean(0)`` is a scale of n).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

_functorch = torch._C._functorch


def unwrap(t: Any) -> Any:
    """The plain tensor under functorch's batching and gradient-tracking wrappers."""
    for _ in range(16):
        if not isinstance(t, torch.Tensor) or not _functorch.is_functorch_wrapped_tensor(t):
            return t
        t = _functorch.get_unwrapped(t)
    return t


def storage_of(t: Any) -> int | None:
    """The data pointer of a tensor's storage (None for anything else)."""
    try:
        return unwrap(t).untyped_storage().data_ptr() if isinstance(t, torch.Tensor) else None
    except (RuntimeError, NotImplementedError):
        return None


@dataclass(frozen=True)
class FunctionalObjective:
    """The mean over samples of a per-sample loss function, as ``vmap`` computes it.

    Attributes:
        fn: The user's per-sample loss function (the one passed to ``torch.func.grad``).
        in_dims: ``vmap``'s ``in_dims``.
        scale: What the script's assigned gradient measured against the gradient of the mean loss.
        input_index: Which argument is the model's input (for input transforms), or -1.
    """

    fn: Callable[..., Any]
    in_dims: Any
    scale: float = 1.0
    input_index: int = -1
    vmap: Callable[..., Any] = torch.func.vmap

    @property
    def __name__(self) -> str:
        return f"vmap({getattr(self.fn, '__name__', 'loss')})"

    def __call__(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        losses = self.vmap(self.fn, in_dims=self.in_dims)(*args, **kwargs)
        if isinstance(losses, tuple):  # grad(has_aux=True) functions return (loss, aux)
            losses = losses[0]
        return losses.mean() * self.scale
