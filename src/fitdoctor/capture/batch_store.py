"""The batches the recorder keeps for the replays: (input, target) pairs of a model call that reached a loss
function, and the backpropagated objectives (tape slices) with their constants. Both are bounded by
:data:`MAX_BATCHES` and :data:`MAX_BATCH_BYTES`; a full-batch loop that feeds the same tensors every step
is stored once."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from fitdoctor.batches import Batch
from fitdoctor.capture.objective import freeze
from fitdoctor.capture.records import (
    MAX_BATCH_BYTES,
    MAX_BATCHES,
    ProgramBatch,
    RootCall,
    batch_identity,
    detached,
    nbytes,
    same_content,
)

#: Called with tensors the store is about to keep and what they are; ends the capture on an exotic kind.
Refuse = Callable[[Iterable[Any], str], None]


class BatchStore:
    """Bounded storage of captured batches and objectives.

    Attributes:
        batches: (input, target) batches of the model's calls, in step order (repeats share storage).
        programs: The objective each step backpropagated, with the optimizer it trained.
        batches_dropped: Batches not kept because a limit was reached.
        programs_dropped: Objectives not kept because a limit was reached.
        empty_batches: Batches without rows (nothing to measure), skipped.
    """

    def __init__(self) -> None:
        self.batches: list[Batch] = []
        self.programs: list[ProgramBatch] = []
        self.batches_dropped = 0
        self.programs_dropped = 0
        self.empty_batches = 0
        self._batch_bytes = 0
        self._program_bytes = 0
        self._seen_batches: dict[tuple[Any, ...], Batch] = {}
        self._seen_consts: dict[tuple[Any, ...], list[torch.Tensor]] = {}

    def add_batch(self, call: RootCall, path: tuple[Any, ...], prediction: torch.Tensor, target: torch.Tensor) -> bool:
        """Keep the batch of a model call whose output ``prediction`` met ``target`` in a loss function.

        Returns:
            Whether new tensors were stored (not a repeat, not dropped, not empty).
        """
        if target.numel() == 0:
            self.empty_batches += 1
            return False
        key = batch_identity(call.args, call.kwargs, target)
        same = self._seen_batches.get(key) if key is not None else None
        if same is not None and not same_content(same, call.args, call.kwargs, target):
            same = None  # the allocator reused a freed batch's address for new data
        if same is not None:
            self.batches.append(same)
            return False
        size = nbytes(call.args) + nbytes(call.kwargs) + nbytes(target)
        if len(self.batches) >= MAX_BATCHES or self._batch_bytes + size > MAX_BATCH_BYTES:
            self.batches_dropped += 1
            return False
        batch = Batch(
            detached(call.args),
            detached(call.kwargs),
            target.detach().clone(),
            tuple(prediction.shape),
            path,
            call.module,
        )
        self._batch_bytes += size
        self.batches.append(batch)
        if key is not None:
            self._seen_batches[key] = batch
        return True

    def keep_from(self, source: nn.Module) -> None:
        """Keep only the batches of ``source`` (another root's calls, e.g. a target network, are not training)."""
        self.batches = [b for b in self.batches if b.source is source]

    def commit(self, slices: list[Any], optimizer: int, refuse: Refuse) -> None:
        """Keep the objectives backpropagated since the last step as this step of ``optimizer``."""
        for sliced in slices:
            refuse(sliced.consts, "inputs")
            if any(c.ndim and c.shape[0] == 0 for c in sliced.consts):
                self.empty_batches += 1
                continue
            freeze(sliced)  # the user's tensors are not kept past their step
            size = sum(c.numel() * c.element_size() for c in sliced.consts)
            if len(self.programs) >= MAX_BATCHES or self._program_bytes + size > MAX_BATCH_BYTES:
                self.programs_dropped += 1
                continue
            sliced.consts = [self._dedupe(c) for c in sliced.consts]
            self._program_bytes += size
            self.programs.append(ProgramBatch(sliced, optimizer))

    def _dedupe(self, t: torch.Tensor) -> torch.Tensor:
        """One stored copy of a constant that a full-batch loop feeds every step."""
        total = float(t.double().sum()) if t.numel() and not t.is_complex() else 0.0
        key = (tuple(t.shape), t.dtype, total)
        for seen in self._seen_consts.setdefault(key, []):
            if torch.equal(seen, t):
                return seen
        self._seen_consts[key].append(t)
        return t
