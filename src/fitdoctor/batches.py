"""Captured batches: one training step's inputs, target and (for recorded objectives) program, and the
operations the probes and replays apply to them (rows, constants, one loss term's view)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from fitdoctor.capture.tape import is_ref, is_tensor, map_nested


@dataclass
class Batch:
    """One training step's model inputs and loss target, detached copies.

    Attributes:
        args: Positional inputs of the model call.
        kwargs: Keyword inputs of the model call.
        target: The loss target, or None for hand-written losses.
        pred_shape: Shape of the loss input (the model output after any reshape).
        output_path: Where the loss input sits in the model output (() for a plain tensor).
        program: The recorded objective (``tape.Program``) when the step is replayed through it; then
            ``args``, ``kwargs`` and ``target`` are read from ``consts``.
        consts: The step's constants (program batches).
        optimizer: Which optimizer's step this batch feeds.
        primary: The op index of the model call whose output the probes read.
        target_op: The op index of the loss term whose target is ``target`` (None: inside forward).
        target_const: The constant index of ``target``.
    """

    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    target: torch.Tensor | None
    pred_shape: tuple[int, ...]
    output_path: tuple[Any, ...] = ()
    source: Any = field(default=None, repr=False)
    program: Any = field(default=None, repr=False)
    consts: list[torch.Tensor] | None = field(default=None, repr=False)
    optimizer: int = 0
    primary: int = -1
    target_op: int | None = None
    target_const: int | None = None
    terms: tuple[Any, ...] = field(default=(), repr=False)


def program_batch(
    program: Any,
    consts: list[torch.Tensor],
    *,
    primary: int,
    output_path: tuple[Any, ...],
    pred_shape: tuple[int, ...],
    target_const: int | None,
    target_op: int | None,
    optimizer: int = 0,
) -> Batch:
    """A batch replayed through a recorded objective; its ``args``, ``kwargs`` and ``target`` (read by
    the probes) are the primary model call's constant inputs and the identified target."""

    def const(obj: Any) -> Any:
        return map_nested(obj, is_ref, lambda ref: consts[ref.index] if ref.kind == "const" else None)

    op = program.ops[primary] if 0 <= primary < len(program.ops) else None
    return Batch(
        const(op.args) if op is not None else (),
        const(op.kwargs) if op is not None else {},
        consts[target_const] if target_const is not None else None,
        pred_shape,
        output_path,
        None,
        program,
        consts,
        optimizer,
        primary,
        target_op,
        target_const,
    )


def with_consts(batch: Batch, consts: list[torch.Tensor], pred_rows: int) -> Batch:
    """A program batch with other constants (e.g. a subset of its rows)."""
    return program_batch(
        batch.program,
        consts,
        primary=batch.primary,
        output_path=batch.output_path,
        pred_shape=(pred_rows, *batch.pred_shape[1:]) if batch.pred_shape else batch.pred_shape,
        target_const=batch.target_const,
        target_op=batch.target_op,
        optimizer=batch.optimizer,
    )


def select_rows(batch: Batch, index: torch.Tensor, n: int) -> Batch:
    """The batch with the rows ``index`` of every tensor whose first dimension is ``n``."""
    rows = int(index.sum()) if index.dtype == torch.bool else int(index.numel())
    if batch.program is not None:
        assert batch.consts is not None
        return with_consts(batch, [take_rows(c, index, n) for c in batch.consts], rows)
    shape = (rows, *batch.pred_shape[1:]) if batch.pred_shape else batch.pred_shape
    return Batch(
        take_rows(batch.args, index, n),
        take_rows(batch.kwargs, index, n),
        take_rows(batch.target, index, n),
        shape,
        batch.output_path,
        batch.source,
    )


def tensors_in(value: Any) -> list[torch.Tensor]:
    """The tensors inside a batch element, also inside (nested) tuples, lists and dicts."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in tensors_in(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in tensors_in(v)]
    return []


def take_rows(value: Any, index: torch.Tensor, n: int) -> Any:
    """``value`` with every tensor of first dimension ``n`` (also nested in tuples, lists, dicts) indexed by
    ``index`` along that dimension; everything else unchanged."""
    return map_nested(value, is_tensor, lambda t: t[index] if t.ndim and t.shape[0] == n else t)


def batch_tensors(batch: Batch) -> list[torch.Tensor]:
    """Every tensor of a batch: inputs (positional, keyword, nested) and the target (for a recorded
    objective: its constants)."""
    if batch.consts is not None:
        return list(batch.consts)
    return tensors_in(batch.args) + tensors_in(batch.kwargs) + tensors_in(batch.target)


def finite_rows(batch: Batch) -> Batch:
    """The batch without the rows (first dimension) that hold NaN or Inf in an input or the target."""
    tensors = [t for t in batch_tensors(batch) if t.ndim]
    n = batch.pred_shape[0] if batch.program is not None and batch.pred_shape else None
    if n is None:
        if not tensors or len(tensors) != len(batch_tensors(batch)) or len({t.shape[0] for t in tensors}) != 1:
            return batch
        n = tensors[0].shape[0]
    keep = torch.ones(n, dtype=torch.bool)
    for t in tensors:
        if t.shape[0] == n and t.is_floating_point():
            keep &= torch.isfinite(t.reshape(t.shape[0], -1)).all(1)
    if bool(keep.all()):
        return batch
    return select_rows(batch, keep, n)


def shuffled_samples(batches: Sequence[Batch], seed: int) -> list[Batch] | None:
    """The samples of the distinct batches, shuffled across them and cut into batches of the same sizes, in the
    same order of sizes (the counterfactual of a shuffled loader). None unless every batch is one tensor input
    and a tensor target with the same number of rows, without a recorded objective."""
    distinct = list({id(b): b for b in batches}.values())
    ok = all(
        b.program is None
        and not b.kwargs
        and len(b.args) == 1
        and isinstance(b.args[0], torch.Tensor)
        and isinstance(b.target, torch.Tensor)
        and b.args[0].ndim >= 1
        and b.target.ndim >= 1
        and b.args[0].shape[0] == b.target.shape[0]
        for b in distinct
    )
    targets = [b.target for b in distinct if b.target is not None]
    if not distinct or not ok or len(targets) != len(distinct):
        return None
    kinds = {
        (b.args[0].shape[1:], t.shape[1:], b.args[0].dtype, t.dtype) for b, t in zip(distinct, targets, strict=True)
    }
    if len(kinds) != 1:
        return None
    xs = torch.cat([b.args[0] for b in distinct])
    ys = torch.cat(targets)
    order = torch.randperm(xs.shape[0], generator=torch.Generator().manual_seed(seed))
    out, start = [], 0
    for b in distinct:
        rows = order[start : start + b.args[0].shape[0]]
        start += len(rows)
        out.append(replace(b, args=(xs[rows],), target=ys[rows], pred_shape=(len(rows), *b.pred_shape[1:])))
    return out


def shuffled_targets(batches: Sequence[Batch], seed: int) -> dict[int, Batch] | None:
    """The distinct batches with their targets permuted across all their samples, the inputs unchanged: the
    control that keeps what each input and the targets look like and breaks what one says about the other.

    Returns a map from ``id(batch)`` to its control batch (so a replay keeps the captured order of batches), or
    None unless every batch has a tensor target of one kind (trailing shape and dtype) with at least one row; a
    recorded objective's target must be one of its constants.
    """

    def permuted(pooled: torch.Tensor, distinct: list[Batch]) -> torch.Tensor:
        return torch.randperm(pooled.shape[0], generator=torch.Generator().manual_seed(seed))

    return _retargeted(batches, permuted)


def planted_targets(batches: Sequence[Batch], seed: int) -> dict[int, Batch] | None:
    """The distinct batches with the same targets handed out by a simple function of the inputs: the sample whose
    input scores k-th lowest along one random direction gets the k-th lowest target (by its first column). The
    targets keep their values; what they now say about the inputs is one linear feature, which any setup that
    can learn at all learns. The positive control of :func:`shuffled_targets` (same return; None also when the
    first input is not a float tensor with a row per target).
    """

    def by_projection(distinct: list[Batch]) -> torch.Tensor | None:
        inputs: list[torch.Tensor] = []
        for b in distinct:
            x = b.args[0] if b.args else None
            rows_of_target = b.target.shape[0] if b.target is not None else -1
            if (
                not isinstance(x, torch.Tensor)
                or not x.is_floating_point()
                or x.ndim < 1
                or x.shape[0] != rows_of_target
            ):
                return None
            inputs.append(x)
        rows = torch.cat([x.detach().reshape(x.shape[0], -1).double() for x in inputs])
        if not bool(torch.isfinite(rows).all()):
            return None
        return projected(rows, seed)

    return ranked_targets(batches, by_projection)


def projected(rows: torch.Tensor, seed: int) -> torch.Tensor:
    """One score per row: the centred rows (float64) along one random direction drawn from ``seed`` (a generator
    of its own: no number is drawn from the global stream)."""
    direction = torch.randn(rows.shape[1], generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return (rows - rows.mean(0)) @ direction


def ranked_targets(
    batches: Sequence[Batch], score: Callable[[list[Batch]], torch.Tensor | None]
) -> dict[int, Batch] | None:
    """The distinct batches with the same targets handed out in the order of a score: ``score(distinct)`` gives
    one number per pooled target row (None: refused), and the row that scores k-th lowest gets the k-th lowest
    target (by its first column; ties keep the captured order). Same return as :func:`shuffled_targets`; None also
    when the scores are not one finite number per row."""

    def by_score(pooled: torch.Tensor, distinct: list[Batch]) -> torch.Tensor | None:
        scores = score(distinct)
        if scores is None or scores.shape != (pooled.shape[0],) or not bool(torch.isfinite(scores).all()):
            return None
        key = pooled.detach().reshape(pooled.shape[0], -1)[:, 0].double()
        index = torch.empty(pooled.shape[0], dtype=torch.long)
        index[scores.argsort(stable=True)] = key.argsort(stable=True)
        return index

    return _retargeted(batches, by_score)


def _retargeted(
    batches: Sequence[Batch], choose: Callable[[torch.Tensor, list[Batch]], torch.Tensor | None]
) -> dict[int, Batch] | None:
    """The distinct batches with their pooled targets reindexed by ``choose(pooled, distinct)`` (None: refused)."""
    distinct = list({id(b): b for b in batches}.values())
    targets: list[torch.Tensor] = []
    for b in distinct:
        target = b.target
        if target is None or target.ndim == 0 or target.shape[0] == 0:
            return None
        if b.program is not None and (b.consts is None or b.target_const is None):
            return None
        targets.append(target)
    if not targets or len({(t.shape[1:], t.dtype) for t in targets}) != 1:
        return None
    pooled = torch.cat(targets)
    index = choose(pooled, distinct)
    if index is None:
        return None
    pooled = pooled[index]
    out: dict[int, Batch] = {}
    start = 0
    for b, t in zip(distinct, targets, strict=True):
        rows = pooled[start : start + t.shape[0]]
        start += t.shape[0]
        if b.program is not None:
            assert b.consts is not None and b.target_const is not None
            consts = list(b.consts)
            consts[b.target_const] = rows
            out[id(b)] = with_consts(b, consts, b.pred_shape[0] if b.pred_shape else t.shape[0])
        else:
            out[id(b)] = replace(b, target=rows)
    return out
