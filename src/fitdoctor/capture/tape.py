"""The loss tape: the torch operations that turn a training step's data into the value it backpropagates.

While a script runs, :class:`Tape` records every torch operation outside a model's forward whose inputs
depend on a model call's output or on a trainable leaf tensor, and every root module call. When the
script calls ``backward()``, :meth:`Tape.slice` keeps only the operations the backpropagated value
depends on and turns them into a :class:`Program`: a small, replayable function of the step's data
(its *constants*: inputs, targets, masks, fake samples of a detached generator) and of the trained
parameters. Replays run that program, so they train with the user's own objective, as the user
computed it: hand-written losses, several loss terms, losses computed inside ``forward`` (dict,
tuple and dataclass outputs), regularisers on the weights, reductions and manual scaling.

Recording never changes what the script computes: it keeps references, and clones the constants only
when a step's value is backpropagated (outside any functorch transform).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from fitdoctor.capture.userframes import Site

#: Tensor attributes whose reads and writes never carry the objective (metadata, gradients, detached aliases).
_SKIPPED_GETTERS = frozenset(
    {
        "grad",
        "data",
        "shape",
        "dtype",
        "device",
        "requires_grad",
        "grad_fn",
        "is_leaf",
        "layout",
        "names",
        "ndim",
        "is_cuda",
        "is_sparse",
        "is_quantized",
        "is_meta",
        "_base",
        "_version",
        "output_nr",
        "_cdata",
        "itemsize",
        "nbytes",
    }
)


def is_bookkeeping(func: Any) -> bool:
    """Whether ``func`` reads or writes a tensor attribute that never carries the objective (``p.grad = None`` in
    ``zero_grad``, ``x.shape``): skipped before anything else is asked of the call."""
    name = getattr(func, "__name__", "")
    if name != "__get__" and name != "__set__":
        return False
    return getattr(getattr(func, "__self__", None), "__name__", "") in _SKIPPED_GETTERS


#: Functions whose result is a constant of the step (no gradient flows through them).
_DETACHING = frozenset({"detach", "detach_", "numpy", "tolist", "item", "cpu_detached"})

#: At most this many operations are kept per step (a script that computes metrics on every batch adds
#: operations that no loss depends on; they are dropped when a step ends).
MAX_OPS = 20_000


@dataclass(frozen=True)
class Ref:
    """A tensor in a program: an earlier operation's output, a constant, or a trained parameter.

    Attributes:
        kind: ``value``, ``const`` or ``param``.
        index: The operation (``value``) or constant (``const``) index.
        path: Where the tensor sits inside the operation's output (keys, indexes, attribute names).
        name: The parameter's key (``param``).
    """

    kind: str
    index: int = 0
    path: tuple[Any, ...] = ()
    name: str = ""


@dataclass(frozen=True)
class Op:
    """One step of a program: a torch function, or a call of a module.

    Attributes:
        func: The torch function (None for a module call).
        module: The module's key in the replayed model (module calls; see :class:`Program`).
        args: Positional arguments, with :class:`Ref` in place of tensors.
        kwargs: Keyword arguments, likewise.
        site: Where the user's code performs it.
    """

    func: Any
    module: str | None
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    site: Site | None = None

    @property
    def name(self) -> str:
        """A readable name: the function's or ``call <module>``."""
        if self.func is None:
            return f"call {self.module or 'model'}"
        return getattr(self.func, "__name__", type(self.func).__name__)


@dataclass(frozen=True)
class Program:
    """A replayable objective: operations from the step's constants and parameters to the loss.

    Attributes:
        ops: The operations, in the order the script ran them.
        result: The value the script backpropagated.
        fixed: Modules called as they are (not trained by the checked optimizer), by key.
    """

    ops: tuple[Op, ...]
    result: Ref
    fixed: dict[str, nn.Module] = field(default_factory=dict, compare=False, hash=False)

    def calls(self) -> list[int]:
        """Indexes of the module calls of the trained model."""
        return [i for i, op in enumerate(self.ops) if op.func is None and op.module not in self.fixed]


def walk(obj: Any, path: tuple[Any, ...] = (), depth: int = 3) -> Iterator[tuple[tuple[Any, ...], torch.Tensor]]:
    """Tensors inside an output structure (tuples, lists, dicts, dataclasses), with their paths."""
    if isinstance(obj, torch.Tensor):
        yield path, obj
        return
    if depth <= 0:
        return
    if isinstance(obj, dict):
        for key, value in list(obj.items()):
            yield from walk(value, (*path, ("k", key)), depth - 1)
    elif isinstance(obj, (tuple, list)):
        for i, value in enumerate(obj):
            yield from walk(value, (*path, ("i", i)), depth - 1)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            yield from walk(getattr(obj, f.name, None), (*path, ("a", f.name)), depth - 1)


def select(obj: Any, path: tuple[Any, ...]) -> Any:
    """The object at ``path`` inside an output structure (see :func:`walk`)."""
    for kind, key in path:
        obj = getattr(obj, key) if kind == "a" else obj[key]
    return obj


def rebuild(obj: Any, replaced: dict[tuple[Any, ...], torch.Tensor], path: tuple[Any, ...] = ()) -> Any:
    """A copy of an output structure with the tensors at the given paths (see :func:`walk`) replaced."""
    if isinstance(obj, torch.Tensor):
        return replaced.get(path, obj)
    if isinstance(obj, dict):
        items = {k: rebuild(v, replaced, (*path, ("k", k))) for k, v in obj.items()}
        try:
            return type(obj)(items)
        except TypeError:
            return items
    if isinstance(obj, (tuple, list)):
        values = [rebuild(v, replaced, (*path, ("i", i))) for i, v in enumerate(obj)]
        return values if isinstance(obj, list) else tuple(values)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        changes = {
            f.name: rebuild(getattr(obj, f.name), replaced, (*path, ("a", f.name)))
            for f in dataclasses.fields(obj)
            if f.init
        }
        return dataclasses.replace(obj, **changes)
    return obj


def map_nested(obj: Any, leaf: Callable[[Any], bool], fn: Callable[[Any], Any]) -> Any:
    """``obj`` with every leaf (as ``leaf`` tells) inside tuples, lists and dicts replaced by ``fn(leaf)``."""
    if leaf(obj):
        return fn(obj)
    if isinstance(obj, tuple):
        return tuple(map_nested(o, leaf, fn) for o in obj)
    if isinstance(obj, list):
        return [map_nested(o, leaf, fn) for o in obj]
    if isinstance(obj, dict):
        return {k: map_nested(v, leaf, fn) for k, v in obj.items()}
    return obj


def find_nested(obj: Any, leaf: Callable[[Any], bool]) -> Iterator[Any]:
    """The leaves (as ``leaf`` tells) inside tuples, lists and dicts, in order."""
    if leaf(obj):
        yield obj
    elif isinstance(obj, (tuple, list)):
        for o in obj:
            yield from find_nested(o, leaf)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from find_nested(o, leaf)


def is_tensor(obj: Any) -> bool:
    """Whether ``obj`` is a tensor (a leaf for :func:`map_nested`)."""
    return isinstance(obj, torch.Tensor)


def is_ref(obj: Any) -> bool:
    """Whether ``obj`` is a :class:`Ref` (a leaf for :func:`map_nested`)."""
    return isinstance(obj, Ref)


@dataclass
class _Entry:
    func: Any
    module: nn.Module | None
    args: Any  # tensors encoded as ("live", id) markers resolved at slice time
    kwargs: Any
    output: Any
    site: Site | None


@dataclass(frozen=True)
class _Live:
    entry: int
    path: tuple[Any, ...]


@dataclass
class Sliced:
    """One step's objective as recorded: the program, its constants, and what it references.

    Attributes:
        program: The operations (module keys are placeholders until the model is known).
        consts: Detached copies of the step's constant tensors, by index.
        modules: The module object of each module call (by op index).
        leaves: Trainable leaf tensors the program reads directly, by parameter key.
        outputs: The live output of each module call (for pairing losses with predictions).
        shapes: The shape of each operation's tensor output.
        sources: The original (not copied) tensor of each constant, until the step ends.
        inner_losses: Loss calls made inside a model's forward: (name, kwargs, prediction, target).
    """

    program: Program
    consts: list[torch.Tensor]
    modules: dict[int, nn.Module]
    leaves: dict[str, torch.Tensor]
    outputs: dict[int, Any]
    shapes: dict[int, tuple[int, ...]] = field(default_factory=dict)
    sources: list[torch.Tensor] = field(default_factory=list)
    inner_losses: list[tuple[str, dict[str, Any], torch.Tensor, torch.Tensor]] = field(default_factory=list)
    inner_terms: list[Any] = field(default_factory=list)
    functional: dict[str, Any] = field(default_factory=dict)


class Tape:
    """Records the operations of the current training step (see the module docstring)."""

    def __init__(self) -> None:
        self.entries: dict[int, _Entry] = {}
        self.live: dict[int, tuple[torch.Tensor, _Live]] = {}
        self.next_id = 0
        self.overflow = False

    def clear(self) -> None:
        """Forget every recorded operation."""
        self.entries.clear()
        self.live.clear()
        self.overflow = False

    def mark(self) -> int:
        """A position in the tape, for :meth:`prune`."""
        return self.next_id

    def prune(self, before: int) -> None:
        """Forget the operations recorded before the mark ``before`` (an earlier step's): a value computed
        then and used later (a GAN's fake batch, used by the discriminator's step and the generator's)
        stays traceable for one more step."""
        for key in [k for k in self.entries if k < before]:
            del self.entries[key]
        for key in [k for k, (_, live) in self.live.items() if live.entry < before]:
            del self.live[key]
        if len(self.entries) < MAX_OPS:
            self.overflow = False

    def _encode(self, obj: Any) -> Any:
        def enc(t: torch.Tensor) -> Any:
            known = self.live.get(id(t))
            if known is not None and known[0] is t:
                return known[1]
            return t  # a constant or a trainable leaf, told apart at slice time

        return map_nested(obj, is_tensor, enc)

    def depends(self, args: Any, kwargs: Any) -> bool:
        """Whether a call with these arguments reads a recorded value or a trainable leaf.

        Asked of every torch operation outside a model call while the script runs, so the common case, flat
        arguments, is a loop of dictionary lookups. Ask it only while taping: it reads ``is_leaf``, which raises on
        a view made under ``no_grad`` and changed in place since (``nn.Embedding(padding_idx=...)`` at init)."""
        return self._reads(args) or (bool(kwargs) and self._reads(kwargs.values()))

    def _reads(self, values: Any) -> bool:
        live = self.live
        for v in values:
            if isinstance(v, torch.Tensor):
                known = live.get(id(v))
                if (known is not None and known[0] is v) or (v.requires_grad and v.is_leaf):
                    return True
            elif isinstance(v, (tuple, list)):
                if self._reads(v):
                    return True
            elif isinstance(v, dict) and self._reads(v.values()):
                return True
        return False

    def record(
        self, func: Any, module: nn.Module | None, args: Any, kwargs: Any, output: Any, site: Site | None
    ) -> None:
        """Add one operation (or module call) and make its output tensors trackable."""
        if len(self.entries) >= MAX_OPS:
            self.overflow = True
            return
        if is_bookkeeping(func):
            return
        name = getattr(func, "__name__", "")
        if name in _DETACHING:
            return  # its output is a constant of the step
        index = self.next_id
        self.next_id += 1
        self.entries[index] = _Entry(func, module, self._encode(tuple(args)), self._encode(dict(kwargs)), output, site)
        for path, t in walk(output):
            if t.requires_grad or t.grad_fn is not None:
                self.live[id(t)] = (t, _Live(index, path))

    def slice(self, value: torch.Tensor) -> Sliced | None:
        """The program that computes ``value`` from the step's constants and parameters, or None when
        ``value`` was not computed from recorded operations."""
        known = self.live.get(id(value))
        if known is None or known[0] is not value or self.overflow:
            return None
        needed: set[int] = set()
        todo = [known[1].entry]
        while todo:
            i = todo.pop()
            if i in needed:
                continue
            needed.add(i)
            entry = self.entries.get(i)
            if entry is None:
                return None  # computed from an operation forgotten since (more than a step ago)
            for ref in find_nested((entry.args, entry.kwargs), lambda o: isinstance(o, _Live)):
                todo.append(ref.entry)
        order = sorted(needed)
        renumber = {old: new for new, old in enumerate(order)}
        consts: list[torch.Tensor] = []
        const_ids: dict[int, int] = {}
        leaves: dict[str, torch.Tensor] = {}
        modules: dict[int, nn.Module] = {}
        outputs: dict[int, Any] = {}
        shapes: dict[int, tuple[int, ...]] = {}
        sources: list[torch.Tensor] = []

        def leaf(obj: Any) -> Any:
            if isinstance(obj, _Live):
                return Ref("value", renumber[obj.entry], obj.path)
            if isinstance(obj, torch.Tensor):
                if obj.requires_grad and obj.is_leaf:
                    key = f"leaf{id(obj)}"
                    leaves[key] = obj
                    return Ref("param", name=key)
                k = const_ids.get(id(obj))
                if k is None:
                    k = const_ids[id(obj)] = len(consts)
                    consts.append(obj.detach().clone())
                    sources.append(obj)
                return Ref("const", k)
            return obj

        def convert(obj: Any) -> Any:
            return map_nested(obj, lambda o: isinstance(o, (_Live, torch.Tensor)), leaf)

        ops = []
        for new, old in enumerate(order):
            entry = self.entries[old]
            if entry.module is not None:
                modules[new] = entry.module
                outputs[new] = entry.output
            if isinstance(entry.output, torch.Tensor):
                shapes[new] = tuple(entry.output.shape)
            ops.append(
                Op(
                    entry.func,
                    None if entry.module is None else f"#{new}",
                    convert(entry.args),
                    convert(entry.kwargs),
                    entry.site,
                )
            )
        result = Ref("value", renumber[known[1].entry], known[1].path)
        return Sliced(Program(tuple(ops), result), consts, modules, leaves, outputs, shapes, sources)


def run(
    program: Program,
    consts: list[torch.Tensor],
    call: Callable[[str, int, tuple[Any, ...], dict[str, Any]], Any],
    param: Callable[[str], torch.Tensor],
    replace: Callable[[int, Op, tuple[Any, ...], dict[str, Any]], Any] | None = None,
    upto: int | None = None,
) -> Any:
    """Run a program.

    Args:
        program: The program.
        consts: The step's constants.
        call: Runs a module call: ``call(module_key, op_index, args, kwargs)``.
        param: The tensor of a parameter key.
        replace: Optionally computes an operation instead (returns NotImplemented to run it as recorded).
        upto: Stop after this operation and return its output (default: run all, return the result).
    """
    values: list[Any] = []

    def resolve(ref: Ref) -> Any:
        if ref.kind == "value":
            return select(values[ref.index], ref.path)
        if ref.kind == "const":
            return consts[ref.index]
        return param(ref.name)

    for i, op in enumerate(program.ops):
        args = map_nested(op.args, is_ref, resolve)
        kwargs = map_nested(op.kwargs, is_ref, resolve)
        out: Any = NotImplemented
        if replace is not None:
            out = replace(i, op, args, kwargs)
        if out is NotImplemented:
            if op.func is None:
                assert op.module is not None
                out = call(op.module, i, args, kwargs)
            else:
                out = op.func(*args, **kwargs)
        values.append(out)
        if upto is not None and i == upto:
            return out
    return resolve(program.result)


def signature(program: Program) -> tuple[Any, ...]:
    """A structural key: equal for programs that run the same operations on different constants."""

    def lit(obj: Any) -> Any:
        if isinstance(obj, Ref):
            return ("ref", obj.kind, obj.index, obj.path, obj.name)
        if isinstance(obj, (tuple, list)):
            return (type(obj).__name__, *[lit(o) for o in obj])
        if isinstance(obj, dict):
            return ("dict", *sorted((str(k), lit(v)) for k, v in obj.items()))
        if isinstance(obj, (int, float, str, bool, type(None), torch.dtype)):
            return obj
        if isinstance(obj, slice):
            return ("slice", lit(obj.start), lit(obj.stop), lit(obj.step))
        return (type(obj).__name__, id(obj))

    ops = tuple((id(op.func), op.module, lit(op.args), lit(op.kwargs)) for op in program.ops)
    return (*ops, lit(program.result))
