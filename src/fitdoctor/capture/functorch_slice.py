"""The objective of a ``torch.func`` training step, ``vmap(grad(loss_fn))``, as a replayable program: the mean
per-sample loss over the call's real, unbatched arguments, scaled to match the gradient the script assigned."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from fitdoctor.capture.functional import FunctionalObjective, storage_of
from fitdoctor.capture.records import param_of
from fitdoctor.capture.tape import Op, Program, Ref, Sliced, is_tensor, map_nested
from fitdoctor.capture.userframes import Site


def functional_slice(
    loss_fn: Callable[..., Any],
    in_dims: Any,
    args: Any,
    kwargs: Any,
    params: dict[int, torch.Tensor],
    seen: tuple[Any, ...] | None,
    input_storage: Any,
    scale_of: Callable[[], float],
    site: Site | None,
) -> Sliced | None:
    """The step's objective, or None when the call's arguments hold none of the optimizer's parameters.

    Args:
        loss_fn: The per-sample loss ``vmap(grad(...))`` was built from.
        in_dims: ``vmap``'s ``in_dims``.
        args: The outer call's positional arguments.
        kwargs: Its keyword arguments.
        params: The optimizer's parameters by storage address.
        seen: The loss function called inside the transform: (name, non-tensor arguments, target storage).
        input_storage: The storage of the model's first input inside the transform.
        scale_of: The script's gradient against the gradient of the mean loss (called only when needed).
        site: The user's line of the step.
    """
    consts: list[torch.Tensor] = []
    leaves: dict[str, torch.Tensor] = {}
    sources: list[int | None] = []

    def enc(t: torch.Tensor) -> Ref:
        owner = param_of(params, t)
        if owner is not None:
            key = f"leaf{id(owner)}"
            leaves[key] = owner
            return Ref("param", name=key)
        consts.append(t.detach().clone())
        sources.append(storage_of(t))
        return Ref("const", len(consts) - 1)

    enc_args = map_nested(tuple(args), is_tensor, enc)
    enc_kwargs = map_nested(dict(kwargs), is_tensor, enc)
    if not leaves:
        return None
    input_const = sources.index(input_storage) if input_storage in sources else None
    target_const = sources.index(seen[2]) if seen and seen[2] in sources else None
    input_index = next(
        (i for i, a in enumerate(enc_args) if isinstance(a, Ref) and a.kind == "const" and a.index == input_const),
        -1,
    )
    objective = FunctionalObjective(loss_fn, in_dims, scale_of(), input_index)
    program = Program((Op(objective, None, enc_args, enc_kwargs, site),), Ref("value", 0))
    sliced = Sliced(program, consts, {}, leaves, {})
    sliced.functional = {"input": input_const, "target": target_const, "loss": seen[:2] if seen else None}
    return sliced


def assigned_scale(
    loss_fn: Callable[..., Any], in_dims: Any, args: Any, kwargs: Any, params: dict[int, torch.Tensor]
) -> float:
    """The script's assigned gradient against the gradient of the mean per-sample loss (1 for ``.mean(0)``)."""
    live: dict[int, torch.Tensor] = {}

    def swap(t: torch.Tensor) -> torch.Tensor:
        owner = param_of(params, t)
        if owner is None:
            return t
        if id(owner) not in live:
            live[id(owner)] = owner.detach().clone().requires_grad_(True)
        return live[id(owner)]

    try:
        with torch.enable_grad():
            value = FunctionalObjective(loss_fn, in_dims)(
                *map_nested(tuple(args), is_tensor, swap), **map_nested(dict(kwargs), is_tensor, swap)
            )
            owners = [p for p in params.values() if id(p) in live]
            grads = torch.autograd.grad(value, [live[id(p)] for p in owners], allow_unused=True)
    except Exception:
        return 1.0
    num = den = 0.0
    for p, g in zip(owners, grads, strict=True):
        if g is None or p.grad is None:
            continue
        num += float((p.grad.double() * g.double()).sum())
        den += float((g.double() * g.double()).sum())
    return num / den if den > 0 and math.isfinite(num / den) and num / den > 0 else 1.0
