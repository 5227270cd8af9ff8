"""Reading a recorded objective: its loss terms, their predictions and targets.

A term is a loss the objective adds up: a ``torch.nn.functional`` loss called on a model output and a
constant target, a loss computed inside the model's ``forward`` (read from the loss call made there),
or a hand-written squared or absolute error (``((pred - y) ** 2).mean()``). Where no such pattern
holds, the term's target is unknown and the rules that need it say so: fitdoctor never guesses it.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch

from fitdoctor.capture.tape import Op, Ref, Sliced, find_nested, run, walk

#: Autograd-free view operations: a loss input reached through them is the model output, reshaped.
VIEW_FUNCS = frozenset(
    {"view", "reshape", "squeeze", "unsqueeze", "flatten", "view_as", "reshape_as", "contiguous", "clone", "float"}
)
_SUB = frozenset({"sub", "__sub__", "__rsub__", "subtract"})
_SQUARE = frozenset({"pow", "__pow__", "square"})
_REDUCE = frozenset({"mean", "sum"})


@dataclass(frozen=True)
class Term:
    """One loss term of an objective.

    Attributes:
        name: The ``torch.nn.functional`` loss it is (``mse_loss`` for a hand-written squared error).
        kwargs: Its keyword arguments (reduction, weight, ...).
        call: The op index of the model call whose output is its prediction.
        path: Where the prediction sits in that call's output.
        target: The constant index of its target, or None when it can't be identified.
        op: The op index of the loss (None for a loss inside the model's forward).
        transform: How the prediction derives from the output: identity, reshape or other.
        pred_shape: The shape of the prediction as the loss saw it.
        target_shape: The shape the loss reads its target in, where the script's constant is a view of it in
            another (a hand-written cross-entropy that gathers with ``y.view(-1, 1)``); None: the constant's own.
    """

    name: str
    kwargs: dict[str, Any]
    call: int
    path: tuple[Any, ...]
    target: int | None
    op: int | None
    transform: str = "identity"
    pred_shape: tuple[int, ...] = field(default=())
    target_shape: tuple[int, ...] | None = None


def _name(op: Op) -> str:
    return op.name


def _trace(sliced: Sliced, ref: Any) -> tuple[int, tuple[Any, ...], str] | None:
    """The model call a value derives from (following each operation's first traced input), with the
    path in its output and how the value derives from it: identity, reshape (views only) or other."""
    ops = sliced.program.ops
    transform = "identity"
    for _ in range(32):
        if not isinstance(ref, Ref) or ref.kind != "value":
            return None
        op = ops[ref.index]
        if op.func is None:
            return ref.index, ref.path, transform
        nxt = next((r for r in _flat((op.args, op.kwargs)) if isinstance(r, Ref) and r.kind == "value"), None)
        if nxt is None:
            return None
        view = not ref.path and _name(op) in VIEW_FUNCS and transform != "other"
        transform = "reshape" if view else "other"
        ref = nxt
    return None


def _direct(ref: Any) -> tuple[int, tuple[Any, ...], str] | None:
    """A prediction computed without any module call (raw tensors): the value itself."""
    if isinstance(ref, Ref) and ref.kind == "value":
        return ref.index, ref.path, "identity"
    return None


def _const(obj: Any) -> int | None:
    return obj.index if isinstance(obj, Ref) and obj.kind == "const" else None


def _shape_of(sliced: Sliced, ref: Any) -> tuple[int, ...]:
    if isinstance(ref, Ref) and ref.kind == "value":
        if not ref.path:
            return sliced.shapes.get(ref.index, ())
        out = sliced.outputs.get(ref.index)
        for path, t in walk(out):
            if path == ref.path:
                return tuple(t.shape)
    return ()


def find_terms(sliced: Sliced, loss_names: frozenset[str]) -> list[Term]:
    """The loss terms of one step's objective (see the module docstring)."""
    terms: list[Term] = []
    ops = sliced.program.ops
    for i, op in enumerate(ops):
        name = _name(op)
        if name in loss_names and op.func is not None and len(op.args) >= 2:
            traced = _trace(sliced, op.args[0]) or _direct(op.args[0])
            if traced is None:
                continue
            kwargs = {
                k: v for k, v in op.kwargs.items() if not isinstance(v, Ref) and k not in ("size_average", "reduce")
            }
            call, path, how = traced
            terms.append(Term(name, kwargs, call, path, _const(op.args[1]), i, how, _shape_of(sliced, op.args[0])))
        elif name in _SUB and len(op.args) == 2:
            term = _hand_written(sliced, i)
            if term is not None:
                terms.append(term)
    terms.extend(sliced.inner_terms)
    return terms


def freeze(sliced: Sliced) -> None:
    """Once a step ends: tie the losses computed inside ``forward`` to the step's constants (while the
    user's tensors are still at hand), then drop every reference to the user's tensors (outputs are kept
    as shapes on the meta device)."""
    sliced.inner_terms = _inner_terms(sliced)
    sliced.inner_losses = []
    sliced.sources = []
    sliced.outputs = {i: _meta(out) for i, out in sliced.outputs.items()}


def _meta(obj: Any, depth: int = 3) -> Any:
    if isinstance(obj, torch.Tensor):
        return torch.empty(obj.shape, dtype=obj.dtype, device="meta")
    if depth <= 0:
        return None
    if isinstance(obj, dict):
        return {k: _meta(v, depth - 1) for k, v in obj.items()}
    if isinstance(obj, (tuple, list)):
        return [_meta(v, depth - 1) for v in obj]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        shell = copy.copy(obj)
        for f in dataclasses.fields(obj):
            object.__setattr__(shell, f.name, _meta(getattr(obj, f.name, None), depth - 1))
        return shell
    return None


def _consumers(sliced: Sliced, index: int) -> list[int]:
    out = []
    for j, op in enumerate(sliced.program.ops):
        if any(isinstance(r, Ref) and r.kind == "value" and r.index == index for r in _flat((op.args, op.kwargs))):
            out.append(j)
    return out


def _flat(obj: Any) -> list[Any]:
    return list(find_nested(obj, lambda o: not isinstance(o, (tuple, list, dict))))


def _hand_written(sliced: Sliced, i: int) -> Term | None:
    """``((pred - y) ** 2).mean()`` / ``.sum()`` / ``(pred - y).abs().mean()`` as an mse/l1 term."""
    ops = sliced.program.ops
    a, b = ops[i].args
    pred, target = (a, b) if _const(b) is not None else (b, a)
    traced = _trace(sliced, pred) or _direct(pred)
    if traced is None or _const(target) is None:
        return None
    after = _consumers(sliced, i)
    if len(after) != 1:
        return None
    j = after[0]
    kind = _name(ops[j])
    if kind in _SQUARE and (kind == "square" or (len(ops[j].args) >= 2 and ops[j].args[1] == 2)):
        loss = "mse_loss"
    elif kind in ("abs", "__abs__"):
        loss = "l1_loss"
    else:
        return None
    reduce = _consumers(sliced, j)
    if len(reduce) != 1 or _name(ops[reduce[0]]) not in _REDUCE or len(ops[reduce[0]].args) > 1:
        return None
    reduction = _name(ops[reduce[0]])
    call, path, how = traced
    return Term(loss, {"reduction": reduction}, call, path, _const(target), i, how, _shape_of(sliced, pred))


def _inner_terms(sliced: Sliced) -> list[Term]:
    """Losses computed inside a model's forward, tied to the call's output and keyword inputs by storage."""
    terms = []
    for name, kwargs, prediction, target in sliced.inner_losses:
        found = None
        for call, output in sliced.outputs.items():
            for path, t in walk(output):
                if _same_storage(t, prediction):
                    found = (call, path)
                    break
            if found:
                break
        if found is None:
            continue
        const = next((k for k, src in enumerate(sliced.sources) if _same_storage(src, target)), None)
        terms.append(Term(name, dict(kwargs), found[0], found[1], const, None, "reshape", tuple(prediction.shape)))
    return terms


def _same_storage(a: torch.Tensor, b: torch.Tensor) -> bool:
    try:
        return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr() and a.numel() == b.numel()
    except (RuntimeError, NotImplementedError):
        return False


def is_simple(sliced: Sliced, terms: list[Term]) -> bool:
    """Whether the objective is one loss call on one model output (or a reshape of it) and a target: the
    shape the classic replay reproduces exactly."""
    ops = sliced.program.ops
    if len(terms) != 1 or terms[0].op is None or sliced.leaves or len(sliced.modules) != 1:
        return False
    term = terms[0]
    loss_op = term.op
    if loss_op is None or term.target is None or term.transform == "other":
        return False
    result = sliced.program.result
    if result.path or result.index != loss_op:
        return False  # a scaled loss (``loss / accumulation``) is replayed as written, in the user's units
    used = {term.call, loss_op, result.index}
    for r in _flat(ops[loss_op].args[0]):
        while isinstance(r, Ref) and r.kind == "value" and r.index not in used:
            used.add(r.index)
            r = ops[r.index].args[0] if ops[r.index].args else None
    call = ops[term.call]
    if any(isinstance(r, Ref) and r.kind != "const" for r in _flat((call.args, call.kwargs))):
        return False
    return used >= set(range(len(ops)))


#: Hand-written losses are matched on outputs of at most this many elements (a probe is a tensor of the
#: output's shape; a language model's logits are not worth three copies to find a term).
MATCH_MAX_ELEMENTS = 1 << 20

#: The losses a hand-written objective is matched against, in order, with the probe domain each is evaluated
#: on: real logits, or probabilities in (0, 1).
_MATCHED_LOSSES: tuple[tuple[str, str], ...] = (
    ("cross_entropy", "real"),
    ("nll_loss", "real"),
    ("binary_cross_entropy_with_logits", "real"),
    ("binary_cross_entropy", "unit"),
    ("mse_loss", "real"),
    ("l1_loss", "real"),
)

#: How close the objective must come to a loss on every probe, relative to the loss (absolute below 1): float32
#: rounding of a few dozen operations.
_MATCH_RTOL = 1e-4


def match_objective(sliced: Sliced) -> Term | None:
    """A hand-written objective identified by what it computes: the one loss of ``torch.nn.functional`` (with
    reduction ``mean`` or ``sum``) that gives the same value as the objective, for one of the step's constant
    tensors as its target, on three random outputs of the model's shape (probes of a fixed seed).

    Whatever way the script writes it (``-log_softmax(out).gather(1, y)``, the logistic loss as
    ``out.clamp(min=0) - out * y + log1p(exp(-|out|))``, ``-(y * log(p) + (1 - y) * log(1 - p))``), an
    objective that equals ``cross_entropy(out, y)`` on random outputs is that loss: the match is a measurement,
    not a guess. It is tried only on a program with one model call whose output is one tensor, that reads no
    trainable tensor besides the model's, and it never changes the RNG state.

    Args:
        sliced: One step's recorded objective.

    Returns:
        The term, or None when no loss matches (the target then stays unknown).
    """
    ops = sliced.program.ops
    calls = [i for i, op in enumerate(ops) if op.func is None]
    if len(calls) != 1 or sliced.leaves or sliced.functional or sliced.inner_terms:
        return None
    if any(_in_place(op.name) for op in ops):
        return None  # running it on a probe could write into the step's captured tensors
    call = calls[0]
    shape = sliced.shapes.get(call)
    output = sliced.outputs.get(call)
    if not shape or not isinstance(output, torch.Tensor) or not output.is_floating_point():
        return None
    if torch.Size(shape).numel() > MATCH_MAX_ELEMENTS or not sliced.consts:
        return None
    result = sliced.program.result
    if not isinstance(result, Ref) or result.kind != "value":
        return None
    device = sliced.consts[0].device
    cuda = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda), torch.no_grad():
        generator = torch.Generator().manual_seed(0)
        probes = {
            "real": [torch.randn(shape, generator=generator) * s for s in (0.5, 1.0, 3.0)],
            "unit": [torch.rand(shape, generator=generator) * 0.9 + 0.05 for _ in range(3)],
        }
        probes = {k: [p.to(device) for p in v] for k, v in probes.items()}
        values = {k: [_objective_at(sliced, call, p) for p in v] for k, v in probes.items()}
        for name, domain in _MATCHED_LOSSES:
            if any(v is None for v in values[domain]):
                continue
            for index, target in enumerate(sliced.consts):
                for reduction in ("mean", "sum"):
                    read = _as_read(name, probes[domain][0], target)
                    if read is not None and _same_loss(name, reduction, probes[domain], read, values[domain]):
                        own = tuple(read.shape) == tuple(target.shape)
                        return Term(
                            name,
                            {"reduction": reduction},
                            call,
                            (),
                            index,
                            result.index,
                            "identity",
                            tuple(shape),
                            None if own else tuple(read.shape),
                        )
    return None


_IN_PLACE_OPERATORS = frozenset(
    f"__i{op}__"
    for op in (
        "add",
        "sub",
        "mul",
        "truediv",
        "floordiv",
        "mod",
        "pow",
        "and",
        "or",
        "xor",
        "lshift",
        "rshift",
        "matmul",
    )
)


def _in_place(name: str) -> bool:
    """Whether a torch function of this name writes into its input (``add_``, ``__iadd__``)."""
    return (name.endswith("_") and not name.endswith("__")) or name in _IN_PLACE_OPERATORS


def _objective_at(sliced: Sliced, call: int, output: torch.Tensor) -> float | None:
    """The objective's value with the model's output replaced by ``output`` (None where it can't be computed)."""

    def no_param(name: str) -> torch.Tensor:
        raise LookupError(name)

    try:
        value = run(sliced.program, sliced.consts, lambda key, i, args, kwargs: output, no_param)
    except Exception:  # a program that can't run on a probe matches nothing
        return None
    if not isinstance(value, torch.Tensor) or value.numel() != 1 or not value.is_floating_point():
        return None
    number = float(value)
    return number if number == number and abs(number) != float("inf") else None


def _as_read(name: str, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor | None:
    """``target`` as loss ``name`` would read it against ``output``: class indices of shape (N, ...) for
    cross-entropy and NLL (a view that only adds or drops dimensions of size 1 is undone: ``y.view(-1, 1)``),
    a tensor of the output's own shape otherwise, in [0, 1] for the binary losses; None when it can't be one."""
    if name in ("cross_entropy", "nll_loss"):
        classes = output.shape[1] if output.dim() >= 2 else 0
        wanted = (output.shape[0], *output.shape[2:])
        if classes < 2 or target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
            return None
        if [d for d in target.shape if d != 1] != [d for d in wanted if d != 1] or target.numel() == 0:
            return None
        read = target.reshape(wanted)
        return read if int(read.min()) >= 0 and int(read.max()) < classes else None
    if not target.is_floating_point() or tuple(target.shape) != tuple(output.shape):
        return None
    if name.startswith("binary_cross_entropy") and not bool(((target >= 0) & (target <= 1)).all()):
        return None
    return target


def _same_loss(
    name: str, reduction: str, outputs: list[torch.Tensor], target: torch.Tensor, values: list[float | None]
) -> bool:
    """Whether ``name(output, target, reduction=reduction)`` gives ``values`` on every probe output."""
    loss = getattr(torch.nn.functional, name)
    for output, value in zip(outputs, values, strict=True):
        try:
            expected = float(loss(output, target.to(output.device), reduction=reduction))
        except (RuntimeError, ValueError):
            return False
        if value is None or abs(value - expected) > _MATCH_RTOL * max(1.0, abs(expected)):
            return False
    return True
