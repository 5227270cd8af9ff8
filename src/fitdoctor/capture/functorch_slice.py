"""The objective of a ``torch.func`` training step, ``vmap(grad(loss_fn))``, as a replayable program: the mean
per-sample loss over the call's real, unbatched arguments, scaled to match the gradient the script assigned;
and :class:`FunctorchWatch`, the recorder's collector that sees such steps."""

from __future__ import annotations

import functools
import inspect
import math
import weakref
from collections.abc import Callable
from contextlib import AbstractContextManager
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


class FunctorchWatch:
    """Watches ``torch.func.grad``/``vmap`` so that a per-sample-gradient step can be replayed.

    ``grad(loss_fn)`` is remembered by the function it returns; ``vmap`` of such a function is wrapped so
    that its last call's arguments are kept until the optimizer steps. Inside the transforms nothing is
    copied or synchronised: only storage addresses are read.

    Args:
        live: Whether a call outside any transform belongs to the captured stage.
        quiet: A context manager under which fitdoctor's own torch calls are not recorded.
    """

    def __init__(self, live: Callable[[], bool], quiet: Callable[[], AbstractContextManager[None]]) -> None:
        self._live = live
        self._quiet = quiet
        self._grad_fns: dict[int, tuple[weakref.ref[Any], Callable[..., Any]]] = {}
        self.reset()

    def reset(self) -> None:
        """Forget the calls of an earlier training stage."""
        self.calls: list[tuple[Any, Any, Any, Any]] = []
        #: The storage of the model's first input inside the transform.
        self.input: int | None = None
        self._scale = 1.0
        self._seen: tuple[Any, ...] | None = None

    def note_loss(self, name: str, signature: inspect.Signature, args: Any, kwargs: Any) -> None:
        """A loss function called inside a transform: its kind and where its target lives."""
        try:
            bound = signature.bind(*args, **kwargs).arguments
        except TypeError:
            return
        extra = {k: v for k, v in bound.items() if k not in ("input", "target", "size_average", "reduce")}
        if any(isinstance(v, torch.Tensor) for v in extra.values()):
            extra = {k: v for k, v in extra.items() if not isinstance(v, torch.Tensor)}
        self._seen = (name, extra, storage_of(bound.get("target")))

    def wrap_grad(self, original: Callable[..., Any]) -> Callable[..., Any]:
        """``torch.func.grad`` (or ``grad_and_value``) remembering which loss each transformed function takes."""
        grad_fns = self._grad_fns

        @functools.wraps(original)
        def grad(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            transformed = original(func, *args, **kwargs)
            grad_fns[id(transformed)] = (weakref.ref(transformed), func)
            return transformed

        return grad

    def wrap_vmap(self, original: Callable[..., Any]) -> Callable[..., Any]:
        """``vmap`` whose mapped ``grad(loss_fn)`` keeps the arguments of its last live call."""
        watch = self

        @functools.wraps(original)
        def vmap(func: Callable[..., Any], in_dims: Any = 0, *rest: Any, **options: Any) -> Any:
            mapped = original(func, in_dims, *rest, **options)
            known = watch._grad_fns.get(id(func))
            if known is None or known[0]() is not func:
                return mapped
            loss_fn = known[1]

            @functools.wraps(mapped)
            def per_sample(*args: Any, **kwargs: Any) -> Any:
                if watch._live():
                    watch.calls = [(loss_fn, in_dims, args, kwargs)]
                return mapped(*args, **kwargs)

            return per_sample

        return vmap

    def step_slice(self, opt: torch.optim.Optimizer, first_step: bool, site: Site | None) -> Sliced | None:
        """The objective of a step of ``opt`` whose gradients came from the last ``vmap(grad(loss_fn))`` call."""
        loss_fn, in_dims, args, kwargs = self.calls[-1]
        self.calls = []
        params = {p.untyped_storage().data_ptr(): p for g in opt.param_groups for p in g["params"]}

        def scale_of() -> float:
            # Measured at the first step; later steps of the same loop scale alike.
            if first_step:
                with self._quiet():
                    self._scale = assigned_scale(loss_fn, in_dims, args, kwargs, params)
            return float(self._scale)

        return functional_slice(loss_fn, in_dims, args, kwargs, params, self._seen, self.input, scale_of, site)
