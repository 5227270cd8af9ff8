"""What the model's sequence layers (recurrent layers, multi-head attention) receive: the shape of their input
against the number of samples the loss sees, to tell which axis they treat as the batch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from fitdoctor.batches import Batch
from fitdoctor.replay import inference
from fitdoctor.training import predict

#: Layers that take a ``batch_first`` flag and read a 3-D (sequence, batch, feature) input when it is False.
SEQUENCE_LAYERS = (nn.RNNBase, nn.MultiheadAttention)
#: Batches the probe runs (the shapes repeat; a few tell a varying axis from a fixed one).
PROBE_BATCHES = 4


@dataclass(frozen=True)
class SequenceInput:
    """One call of a sequence layer on one probe batch.

    Attributes:
        module: The layer's qualified name in the model.
        kind: Its class name (``GRU``, ``LSTM``, ``RNN``, ``MultiheadAttention``).
        batch_first: The layer's ``batch_first`` flag.
        shape: The shape of its input (the query, for attention).
        target_shape: The shape of the batch's loss target (None without one).
    """

    module: str
    kind: str
    batch_first: bool
    shape: tuple[int, ...]
    target_shape: tuple[int, ...] | None


def _first_tensor(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor | None:
    value = args[0] if args else kwargs.get("input", kwargs.get("query"))
    return value if isinstance(value, torch.Tensor) else None  # a PackedSequence has no batch axis to judge


def probe_sequence_inputs(model: nn.Module, batches: Sequence[Batch]) -> list[SequenceInput]:
    """The input shape of every sequence-layer call on the first :data:`PROBE_BATCHES` probe batches, with
    each batch's target shape (empty when the model has no sequence layer, or a forward fails)."""
    layers = [(name, m) for name, m in model.named_modules() if isinstance(m, SEQUENCE_LAYERS)]
    if not layers:
        return []
    seen: list[SequenceInput] = []
    target: list[tuple[int, ...] | None] = [None]

    def watch(name: str, layer: nn.Module) -> Any:
        def hook(_: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            x = _first_tensor(args, kwargs)
            if x is not None and x.ndim == 3:
                seen.append(
                    SequenceInput(name, type(layer).__name__, bool(layer.batch_first), tuple(x.shape), target[0])
                )

        return hook

    handles = [layer.register_forward_pre_hook(watch(name, layer), with_kwargs=True) for name, layer in layers]
    try:
        with inference(model):
            for batch in batches[:PROBE_BATCHES]:
                target[0] = tuple(batch.target.shape) if batch.target is not None else None
                predict(model, batch)
    except (RuntimeError, IndexError, ValueError, TypeError):
        return []
    finally:
        for handle in handles:
            handle.remove()
    return seen
