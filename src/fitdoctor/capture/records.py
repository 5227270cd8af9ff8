"""What the recorder keeps, and the helpers its hooks share: the data types (loss calls, root calls, optimizer
records, program batches) and the limits of what is kept."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from fitdoctor.batches import Batch
from fitdoctor.capture.functional import storage_of
from fitdoctor.capture.tape import is_tensor, map_nested
from fitdoctor.capture.userframes import Site

#: Loss functions of ``torch.nn.functional`` that take ``input`` and ``target``. Loss modules
#: look these up at call time, so patching the attribute covers ``nn.MSELoss()`` and friends.


LOSS_FUNCTIONS = (
    "mse_loss",
    "l1_loss",
    "smooth_l1_loss",
    "huber_loss",
    "cross_entropy",
    "nll_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "kl_div",
    "poisson_nll_loss",
    "gaussian_nll_loss",
    "soft_margin_loss",
    "multilabel_soft_margin_loss",
    "multi_margin_loss",
    "hinge_embedding_loss",
)

#: Autograd nodes that only reshape or copy: a loss input reached through them is the model output.
VIEW_NODES = frozenset(
    {
        "ViewBackward0",
        "ReshapeAliasBackward0",
        "UnsafeViewBackward0",
        "SqueezeBackward0",
        "SqueezeBackward1",
        "SqueezeBackward2",
        "UnsqueezeBackward0",
        "CloneBackward0",
        "ToCopyBackward0",
        "AliasBackward0",
    }
)

#: ``torch.nn.init`` functions whose explicit calls in the user's code are recorded (for FD303's line).
INIT_FUNCTIONS = (
    "normal_",
    "uniform_",
    "zeros_",
    "ones_",
    "constant_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "trunc_normal_",
    "orthogonal_",
    "eye_",
    "sparse_",
)

#: Layers that behave differently in train and eval mode.
MODE_DEPENDENT = (nn.modules.dropout._DropoutNd, nn.modules.batchnorm._BatchNorm)

MAX_BATCHES = 256
MAX_BATCH_BYTES = 256 * 2**20


def may_warn(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Whether a loss call is one PyTorch warns about: a target whose shape differs from the prediction's
    (broadcasting), or the deprecated ``size_average``/``reduce`` arguments."""
    if "size_average" in kwargs or "reduce" in kwargs:
        return True
    pair = [*args[:2], kwargs.get("input"), kwargs.get("target")]
    tensors = [t for t in pair if isinstance(t, torch.Tensor)]
    return len(tensors) == 2 and tensors[0].shape != tensors[1].shape


def warnings_at_caller(
    function: Callable[..., Any], args: Any, kwargs: Any, shown: set[tuple[Any, ...]], original: Callable[[str], str]
) -> Any:
    """Call a wrapped torch function so that a warning it raises is shown once, at the line of the script that
    called the wrapper (as without fitdoctor), rather than at the wrapper's own line on every call."""
    caller = sys._getframe(2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = function(*args, **kwargs)
    for w in caught:
        key = (w.category, str(w.message), caller.f_code.co_filename, caller.f_lineno)
        if key not in shown:
            shown.add(key)
            warnings.warn_explicit(
                w.message,
                w.category,
                original(caller.f_code.co_filename),
                caller.f_lineno,
                module_globals=caller.f_globals,
            )
    return result


def exotic(t: torch.Tensor) -> str | None:
    """What kind of tensor fitdoctor can't measure ``t`` is (meta, sparse, complex, quantized), or None."""
    if t.is_meta:
        return "meta-device tensors (shapes without values)"
    if t.layout != torch.strided:
        return str(t.layout).replace("torch.", "").replace("_", " ") + " tensors"
    if t.is_complex():
        return "complex-valued tensors"
    if t.is_quantized:
        return "quantized tensors"
    return None


@dataclass
class LossInfo:
    """How the user computes the loss."""

    name: str
    kwargs: dict[str, Any]
    site: Site | None
    transform: str  # "identity", "reshape" or "other"
    transform_ops: list[str] = field(default_factory=list)


@dataclass
class RootCall:
    module: nn.Module
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    output: Any
    site: Site | None = None


def detached(obj: Any) -> Any:
    """A detached copy of a batch structure (tensors in tuples, lists and dicts)."""
    return map_nested(obj, is_tensor, lambda t: t.detach().clone())


def param_of(params: dict[int, torch.Tensor], t: torch.Tensor) -> torch.Tensor | None:
    """The optimizer parameter a tensor is a view of (a ``torch.func`` params dict holds detached views)."""
    owner = params.get(storage_of(t) or -1)
    return owner if owner is not None and owner.shape == t.shape else None


def nbytes(obj: Any) -> int:
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, (tuple, list)):
        return sum(nbytes(o) for o in obj)
    if isinstance(obj, dict):
        return sum(nbytes(o) for o in obj.values())
    return 0


def batch_identity(args: Any, kwargs: Any, target: torch.Tensor) -> tuple[Any, ...] | None:
    """A cheap fingerprint of a batch's content (shape, dtype, sum): equal for re-fed or re-collated data.
    Candidates with equal fingerprints are compared exactly before they are merged."""
    parts: list[Any] = []
    for t in (*args, *kwargs.values(), target):
        if not isinstance(t, torch.Tensor):
            return None
        total = t.detach().double().sum() if t.numel() else torch.tensor(0.0)
        parts.append((tuple(t.shape), t.dtype, float(total)))
    return tuple(parts)


def same_content(batch: Batch, args: Any, kwargs: Any, target: torch.Tensor) -> bool:
    """Whether a stored batch holds exactly these tensors' values."""
    stored = (*batch.args, *batch.kwargs.values(), batch.target)
    current = (*args, *kwargs.values(), target)
    return len(stored) == len(current) and all(
        isinstance(a, torch.Tensor)
        and isinstance(b, torch.Tensor)
        and a.shape == b.shape
        and torch.equal(a, b.detach())
        for a, b in zip(stored, current, strict=True)
    )


def tensors_in_output(output: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], torch.Tensor]]:
    """Tensors inside a model output, with the index path to each (one level of nesting)."""
    if isinstance(output, torch.Tensor):
        yield path, output
    elif isinstance(output, (tuple, list)) and len(path) < 2:
        for i, item in enumerate(output):
            yield from tensors_in_output(item, (*path, i))
    elif isinstance(output, dict) and len(path) < 2:
        for key, item in output.items():
            yield from tensors_in_output(item, (*path, key))


def path_to(source: torch.Tensor, target_fn: Any, max_depth: int = 8) -> list[str] | None:
    """Names of autograd nodes from ``source`` back to the node ``target_fn``, or None if unreachable."""
    start = source.grad_fn
    if start is None:
        return None
    frontier: list[tuple[Any, list[str]]] = [(start, [])]
    seen: set[int] = set()
    while frontier:
        node, names = frontier.pop()
        if node is target_fn:
            return names
        if id(node) in seen or len(names) >= max_depth:
            continue
        seen.add(id(node))
        for nxt, _ in node.next_functions:
            if nxt is not None:
                frontier.append((nxt, [*names, type(node).__name__]))
    return None


def unwrap_model(module: nn.Module) -> nn.Module:
    """The user's model inside DataParallel/DDP or ``torch.compile`` wrappers."""
    for _ in range(4):
        inner = getattr(module, "_orig_mod", None) or (
            module.module if isinstance(module, (nn.DataParallel, nn.parallel.DistributedDataParallel)) else None
        )
        if not isinstance(inner, nn.Module):
            return module
        module = inner
    return module


#: A new optimizer that starts stepping after the current stage's optimizers took more than this many
#: steps starts a new training stage (pre-training, then fine-tuning); adversarial setups alternate
#: within a few steps (WGAN's critic takes 5 per generator step).
STAGE_GAP = 10

#: Weights updated by hand are measured (a copy of each and of its gradient) up to this many parameters.
MANUAL_MAX_PARAMS = 50_000_000


def in_functorch_transform() -> bool:
    """Whether code runs inside ``torch.func`` transforms (vmap, grad): no host syncs, no copies there."""
    level = getattr(torch._C._functorch, "maybe_current_level", None)
    return level is not None and level() is not None


@dataclass
class OptimizerRecord:
    """One optimizer of the checked stage, and what it trains.

    Attributes:
        opt: The optimizer (None for weights updated by hand).
        index: Its position in order of first step.
        site: Where the user created it.
        roots: The root modules whose parameters it trains.
        leaves: Trainable tensors it trains that belong to no called module (raw tensors).
        states: Each root's state_dict before its first update.
        leaf_values: Each leaf's value before its first update.
        steps: Steps taken.
    """

    opt: torch.optim.Optimizer | None
    index: int
    site: Site | None
    roots: list[nn.Module] = field(default_factory=list)
    leaves: list[torch.Tensor] = field(default_factory=list)
    states: list[dict[str, torch.Tensor]] = field(default_factory=list)
    leaf_values: list[torch.Tensor] = field(default_factory=list)
    steps: int = 0
    closure: bool = False
    names: list[str] = field(default_factory=list)
    leaf_names: list[str] = field(default_factory=list)


@dataclass
class ProgramBatch:
    """One backward call's objective, attributed to the optimizer step it feeds."""

    sliced: Any  # tape.Sliced
    optimizer: int


def source_call(calls: list[RootCall], prediction: torch.Tensor) -> tuple[RootCall, tuple[Any, ...], list[str]] | None:
    """The latest of ``calls`` whose output ``prediction`` is, or was computed from.

    Returns:
        The call, the path of the output tensor inside its output, and the autograd nodes from that
        tensor to ``prediction`` (empty when it is the output itself); None when no call produced it.
    """
    for call in reversed(calls):
        for path, out in tensors_in_output(call.output):
            if prediction is out:
                return call, path, []
            ops = path_to(prediction, out.grad_fn) if out.grad_fn is not None else None
            if ops is not None:
                return call, path, ops
    return None


def transform_of(ops: list[str]) -> str:
    """How a loss input relates to the model output: ``identity``, ``reshape`` (views only) or ``other``."""
    if not ops:
        return "identity"
    return "reshape" if all(op in VIEW_NODES for op in ops) else "other"
