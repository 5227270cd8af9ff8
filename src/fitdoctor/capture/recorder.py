"""Global hooks that watch a training script: model calls, losses, backward passes, optimizer steps.

Everything installed by :meth:`Recorder.install` is removed by :meth:`Recorder.uninstall`, which the
child process calls in a ``finally`` block. The recorder is the only global state fitdoctor keeps, and
only for the lifetime of the capture.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules import module as module_hooks
from torch.optim import optimizer as optimizer_hooks

from fitdoctor.capture.userframes import Site, UserFiles, real_path

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


class StopCapture(BaseException):
    """Raised from a hook to stop the user's script; a ``BaseException`` so ``except Exception`` can't
    swallow it."""


@dataclass
class Batch:
    """One training step's model inputs and loss target, detached copies.

    Attributes:
        args: Positional inputs of the model call.
        kwargs: Keyword inputs of the model call.
        target: The loss target, or None for hand-written losses.
        pred_shape: Shape of the loss input (the model output after any reshape).
        output_path: Where the loss input sits in the model output (() for a plain tensor).
    """

    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    target: torch.Tensor | None
    pred_shape: tuple[int, ...]
    output_path: tuple[Any, ...] = ()
    source: Any = field(default=None, repr=False)


@dataclass
class LossInfo:
    """How the user computes the loss."""

    name: str
    kwargs: dict[str, Any]
    site: Site | None
    transform: str  # "identity", "reshape" or "other"
    transform_ops: list[str] = field(default_factory=list)
    prediction_shape: tuple[int, ...] = ()
    target_shape: tuple[int, ...] = ()
    target_dtype: str = ""


@dataclass
class _RootCall:
    module: nn.Module
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    output: Any
    site: Site | None = None


def _detach(obj: Any) -> Any:
    """A detached copy of a batch structure (tensors in tuples, lists and dicts)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, tuple):
        return tuple(_detach(o) for o in obj)
    if isinstance(obj, list):
        return [_detach(o) for o in obj]
    if isinstance(obj, dict):
        return {k: _detach(v) for k, v in obj.items()}
    return obj


def _nbytes(obj: Any) -> int:
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, (tuple, list)):
        return sum(_nbytes(o) for o in obj)
    if isinstance(obj, dict):
        return sum(_nbytes(o) for o in obj.values())
    return 0


def _identity(args: Any, kwargs: Any, target: torch.Tensor) -> tuple[Any, ...] | None:
    """A cheap fingerprint of a batch's content (shape, dtype, sum): equal for re-fed or re-collated data.
    Candidates with equal fingerprints are compared exactly before they are merged."""
    parts: list[Any] = []
    for t in (*args, *kwargs.values(), target):
        if not isinstance(t, torch.Tensor):
            return None
        total = t.detach().double().sum() if t.numel() else torch.tensor(0.0)
        parts.append((tuple(t.shape), t.dtype, float(total)))
    return tuple(parts)


def _same_content(batch: Batch, args: Any, kwargs: Any, target: torch.Tensor) -> bool:
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


def _tensors_in(output: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], torch.Tensor]]:
    """Tensors inside a model output, with the index path to each (one level of nesting)."""
    if isinstance(output, torch.Tensor):
        yield path, output
    elif isinstance(output, (tuple, list)) and len(path) < 2:
        for i, item in enumerate(output):
            yield from _tensors_in(item, (*path, i))
    elif isinstance(output, dict) and len(path) < 2:
        for key, item in output.items():
            yield from _tensors_in(item, (*path, key))


def _path_to(source: torch.Tensor, target_fn: Any, max_depth: int = 8) -> list[str] | None:
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


class Recorder:
    """Captures one training setup from a running script through global hooks.

    Args:
        user_files: Which source files are the user's (for line numbers).
        max_steps: Stop the script after this many optimizer steps.
        time_budget: Stop the script after this many seconds of training (at least one step).
        passive: At the budget, stop recording instead of stopping the code (``fitdoctor.watch``).
    """

    def __init__(self, user_files: UserFiles, max_steps: int, time_budget: float, passive: bool = False) -> None:
        self.user_files = user_files
        self.passive = passive
        self.max_steps = max_steps
        self.time_budget = time_budget
        self.started = time.perf_counter()
        self.first_step_at: float | None = None
        self.steps = 0
        self.stopped = False
        self.stop_reason = ""
        self.model: nn.Module | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.other_optimizers: list[str] = []
        self.initial_state: dict[str, torch.Tensor] | None = None
        self.initial_param_names: list[str] = []
        self.optimizer_groups: list[dict[str, Any]] = []
        self.optimizer_site: Site | None = None
        self.model_call_site: Site | None = None
        self.loss: LossInfo | None = None
        self.batches: list[Batch] = []
        self.batch_bytes = 0
        self.batches_dropped = 0
        self.user_losses: list[float] = []
        self.backward_calls: list[int] = []
        self.hand_written_loss = False
        self.compile_calls = 0  # torch.compile calls, each answered with the eager model
        self.backward_total = 0
        self.loss_in_model: Site | None = None
        self.stale_steps = 0
        self.single_backward_steps = 0
        self.loss_scales: list[float] = []
        self.params_outside_optimizer: list[str] = []
        self.grad_missing: dict[str, int] = {}
        self.params_unchanged: list[str] = []
        self._grad_seen_this_step = False
        self._stale_this_step = False
        self.eval_mode_steps = 0
        self.mode_layers: list[str] = []
        self.module_sites: weakref.WeakKeyDictionary[nn.Module, list[Site]] = weakref.WeakKeyDictionary()
        self.optimizer_sites: weakref.WeakKeyDictionary[Any, Site] = weakref.WeakKeyDictionary()
        self._roots: weakref.WeakSet[nn.Module] = weakref.WeakSet()
        self._pending: list[_RootCall] = []
        self._seen_batches: dict[tuple[Any, ...], Batch] = {}
        self._step_backward_values: list[float] = []
        self._step_loss_values: list[float] = []
        self._tls = threading.local()
        self._undo: list[Callable[[], None]] = []
        self._pid = os.getpid()
        self._init_calls: dict[int, tuple[weakref.ref[torch.Tensor], Site]] = {}
        self.init_sites: dict[str, Site] = {}

    # ----------------------------------------------------------------- install / uninstall
    def install(self) -> None:
        """Install every hook and patch; :meth:`uninstall` removes them all."""
        handles = [
            module_hooks.register_module_forward_pre_hook(self._forward_pre),
            module_hooks.register_module_forward_hook(self._forward_post, with_kwargs=True, always_call=True),
            optimizer_hooks.register_optimizer_step_pre_hook(self._step_pre),
            optimizer_hooks.register_optimizer_step_post_hook(self._step_post),
        ]
        self._undo.extend(h.remove for h in handles)
        for name in LOSS_FUNCTIONS:
            original = getattr(F, name, None)
            if original is not None:
                self._patch(F, name, self._wrap_loss(name, original))
        self._patch(torch.autograd, "backward", self._wrap_backward(torch.autograd.backward))
        self._patch(nn.Module, "__init__", self._wrap_module_init(nn.Module.__init__))
        self._patch(torch.optim.Optimizer, "__init__", self._wrap_optimizer_init(torch.optim.Optimizer.__init__))
        for name in INIT_FUNCTIONS:
            original = getattr(nn.init, name, None)
            if original is not None:
                self._patch(nn.init, name, self._wrap_init(original))
        if not self.passive and hasattr(torch, "compile"):
            self._patch(torch, "compile", self._eager_compile)
        os.register_at_fork(after_in_child=self._after_fork)

    def uninstall(self) -> None:
        """Remove every hook and patch, in reverse order of installation."""
        while self._undo:
            undo = self._undo.pop()
            with contextlib.suppress(Exception):
                undo()

    def _patch(self, owner: Any, name: str, replacement: Any) -> None:
        original = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
        setattr(owner, name, replacement)
        self._undo.append(lambda: setattr(owner, name, original))

    def _eager_compile(self, model: Any = None, **options: Any) -> Any:
        """``torch.compile`` while capturing: the model or function unchanged, run eagerly.

        Compiled graphs bypass the module hooks the capture relies on, and compiling costs more than the
        short check runs; the maths is the same, so the check runs eagerly and the report says so.
        """
        self.compile_calls += 1
        if model is None:  # @torch.compile(mode=...) used as a decorator factory
            return lambda fn: fn
        return model

    def _after_fork(self) -> None:
        # DataLoader workers inherit the hooks; they must not record or stop anything.
        if os.getpid() != self._pid:
            self.uninstall()

    def _active(self) -> bool:
        if self.passive and self.stopped:
            return False
        return os.getpid() == self._pid and not getattr(self._tls, "busy", False)

    # ----------------------------------------------------------------- creation sites
    def _wrap_module_init(self, original: Callable[..., None]) -> Callable[..., None]:
        recorder = self

        @functools.wraps(original)
        def __init__(module: nn.Module, *args: Any, **kwargs: Any) -> None:
            original(module, *args, **kwargs)
            sites = recorder.user_files.sites(limit=4)
            if sites:
                recorder.module_sites[module] = sites

        return __init__

    def _wrap_optimizer_init(self, original: Callable[..., None]) -> Callable[..., None]:
        recorder = self

        @functools.wraps(original)
        def __init__(opt: Any, *args: Any, **kwargs: Any) -> None:
            original(opt, *args, **kwargs)
            sites = recorder.user_files.sites(limit=4)
            if sites:
                recorder.optimizer_sites[opt] = sites[0]

        return __init__

    def _wrap_init(self, original: Callable[..., Any]) -> Callable[..., Any]:
        recorder = self

        @functools.wraps(original)
        def init(tensor: Any, *args: Any, **kwargs: Any) -> Any:
            caller = sys._getframe(1)
            if isinstance(tensor, torch.Tensor) and recorder.user_files.is_user(caller.f_code.co_filename):
                site = Site(real_path(caller.f_code.co_filename), caller.f_lineno, caller.f_code.co_name)
                recorder._init_calls[id(tensor)] = (weakref.ref(tensor), site)
            return original(tensor, *args, **kwargs)

        return init

    # ----------------------------------------------------------------- module calls
    def _stack(self) -> list[nn.Module]:
        stack = getattr(self._tls, "stack", None)
        if stack is None:
            stack = self._tls.stack = []
        return stack

    def _forward_pre(self, module: nn.Module, args: Any) -> None:
        if not self._active():
            return
        if self.stopped:
            raise StopCapture(self.stop_reason)
        stack = self._stack()
        if not stack:
            self._roots.add(module)
        stack.append(module)

    def _forward_post(self, module: nn.Module, *rest: Any) -> None:
        if not self._active():
            return
        stack = self._stack()
        if stack and stack[-1] is module:
            stack.pop()
        elif module in stack:
            del stack[stack.index(module) :]
        if stack or not torch.is_grad_enabled():
            return
        args = rest[0] if rest else ()
        kwargs = rest[1] if len(rest) == 3 and isinstance(rest[1], dict) else {}
        output = rest[-1] if rest else None
        if isinstance(module, nn.modules.loss._Loss):
            return
        self._pending.append(_RootCall(module, tuple(args), dict(kwargs), output, self.user_files.innermost()))
        del self._pending[:-8]

    # ----------------------------------------------------------------- losses and backward
    def _wrap_loss(self, name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(original)
        recorder = self

        @functools.wraps(original)
        def loss(*args: Any, **kwargs: Any) -> Any:
            if not recorder._active() or not torch.is_grad_enabled():
                return original(*args, **kwargs)
            if recorder._stack() and recorder.loss_in_model is None:
                recorder.loss_in_model = recorder.user_files.innermost()
            recorder._tls.busy = True
            try:
                result = original(*args, **kwargs)
                with contextlib.suppress(TypeError):
                    bound = signature.bind(*args, **kwargs)
                    recorder._record_loss(name, dict(bound.arguments), result)
                return result
            finally:
                recorder._tls.busy = False

        return loss

    def _record_loss(self, name: str, arguments: dict[str, Any], result: Any) -> None:
        prediction = arguments.pop("input", None)
        target = arguments.pop("target", None)
        if not isinstance(prediction, torch.Tensor) or not isinstance(target, torch.Tensor):
            return
        if isinstance(result, torch.Tensor) and result.numel() == 1:
            self._step_loss_values.append(float(result.detach()))
        for call in reversed(self._pending):
            for path, out in _tensors_in(call.output):
                if prediction is out:
                    ops: list[str] | None = []
                else:
                    ops = _path_to(prediction, out.grad_fn) if out.grad_fn is not None else None
                if ops is None:
                    continue
                transform = "identity" if not ops else ("reshape" if all(op in VIEW_NODES for op in ops) else "other")
                if self.loss is None:
                    kwargs = {k: v for k, v in arguments.items() if k not in ("size_average", "reduce")}
                    self.loss = LossInfo(
                        name,
                        kwargs,
                        self.user_files.innermost(),
                        transform,
                        ops,
                        tuple(prediction.shape),
                        tuple(target.shape),
                        str(target.dtype).replace("torch.", ""),
                    )
                self._add_batch(call, path, prediction, target)
                self._pending.remove(call)
                return

    def _add_batch(
        self, call: _RootCall, path: tuple[Any, ...], prediction: torch.Tensor, target: torch.Tensor
    ) -> None:
        if self.model is not None and call.module is not self.model:
            return
        key = _identity(call.args, call.kwargs, target)
        same = self._seen_batches.get(key) if key is not None else None
        if same is not None and not _same_content(same, call.args, call.kwargs, target):
            same = None  # the allocator reused a freed batch's address for new data
        if same is not None:
            # A full-batch loop feeds the same tensors every step: store them once.
            self.batches.append(same)
            return
        batch = Batch(call.args, call.kwargs, target, tuple(prediction.shape), path, call.module)
        size = _nbytes(batch.args) + _nbytes(batch.kwargs) + _nbytes(target)
        if len(self.batches) >= MAX_BATCHES or self.batch_bytes + size > MAX_BATCH_BYTES:
            self.batches_dropped += 1
            return
        batch.args = _detach(call.args)
        batch.kwargs = _detach(call.kwargs)
        batch.target = target.detach().clone()
        if self.model_call_site is None:
            self.model_call_site = call.site
        self.batch_bytes += size
        self.batches.append(batch)
        if key is not None:
            self._seen_batches[key] = batch

    def _wrap_backward(self, original: Callable[..., Any]) -> Callable[..., Any]:
        recorder = self

        @functools.wraps(original)
        def backward(tensors: Any, *args: Any, **kwargs: Any) -> Any:
            if recorder._active():
                recorder.backward_total += 1
                first = tensors[0] if isinstance(tensors, (tuple, list)) and tensors else tensors
                if isinstance(first, torch.Tensor) and first.numel() == 1:
                    recorder._step_backward_values.append(float(first.detach()))
            return original(tensors, *args, **kwargs)

        return backward

    # ----------------------------------------------------------------- optimizer steps
    def _step_pre(self, opt: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if not self._active():
            return
        if self.stopped:
            raise StopCapture(self.stop_reason)
        if self.optimizer is None:
            self._first_step(opt)
        elif opt is not self.optimizer:
            name = type(opt).__name__
            if name not in self.other_optimizers:
                self.other_optimizers.append(name)
            return
        if len(self._step_backward_values) == 1 and len(self._step_loss_values) == 1 and self._step_loss_values[0]:
            self.loss_scales.append(self._step_backward_values[0] / self._step_loss_values[0])
        elif self._step_backward_values and len(self._step_backward_values) == len(self._step_loss_values):
            pairs = zip(self._step_backward_values, self._step_loss_values, strict=True)
            self.loss_scales.extend(b / v for b, v in pairs if v)
        if len(self._step_backward_values) == 1 and self.steps > 0:
            self.single_backward_steps += 1
            self.stale_steps += int(self._stale_this_step)
        for name, p in self._optimized_params():
            if p.grad is None:
                self.grad_missing[name] = self.grad_missing.get(name, 0) + 1
        if self.model is not None and not unwrap_model(self.model).training:
            self.eval_mode_steps += 1
        values = self._step_loss_values or self._step_backward_values
        if values:
            self.user_losses.append(sum(values) / len(values))
            if not self._step_loss_values:
                self.hand_written_loss = True
        self.backward_calls.append(len(self._step_backward_values))
        self._step_backward_values.clear()
        self._step_loss_values.clear()

    def _step_post(self, opt: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if not self._active() or opt is not self.optimizer:
            return
        self.steps += 1
        self._pending.clear()
        self._grad_seen_this_step = False
        self._stale_this_step = False
        now = time.perf_counter()
        if self.steps >= self.max_steps:
            self._stop(f"step budget of {self.max_steps} steps reached")
        elif self.first_step_at is not None and now - self.started > self.time_budget:
            self._stop(f"time budget of {self.time_budget:g} s reached after {self.steps} steps")

    def _stop(self, reason: str) -> None:
        self.stopped = True
        self.stop_reason = reason
        if not self.passive:
            raise StopCapture(reason)

    def _first_step(self, opt: torch.optim.Optimizer) -> None:
        self.optimizer = opt
        self.first_step_at = time.perf_counter()
        self.optimizer_site = self.optimizer_sites.get(opt)
        params = {id(p) for group in opt.param_groups for p in group["params"]}
        candidates = [c.module for c in reversed(self._pending)] + list(self._roots)
        best: nn.Module | None = None
        best_overlap = 0
        for candidate in candidates:
            overlap = sum(1 for p in candidate.parameters() if id(p) in params)
            if overlap > best_overlap:
                best, best_overlap = candidate, overlap
        if best is None:
            return
        self.model = best
        inner = unwrap_model(best)
        self.initial_state = {k: v.detach().clone() for k, v in inner.state_dict().items()}
        names = {id(p): n for n, p in inner.named_parameters()}
        self.initial_param_names = list(names.values())
        for group in opt.param_groups:
            hyper = {k: v for k, v in group.items() if k != "params"}
            hyper["params"] = [names[id(p)] for p in group["params"] if id(p) in names]
            self.optimizer_groups.append(hyper)
        self.params_outside_optimizer = [
            n for n, p in inner.named_parameters() if p.requires_grad and id(p) not in params
        ]
        self.mode_layers = [n for n, m in inner.named_modules() if isinstance(m, MODE_DEPENDENT)]
        for n, p in inner.named_parameters():
            ref_site = self._init_calls.get(id(p))
            if ref_site is not None and ref_site[0]() is p:
                self.init_sites[n] = ref_site[1]
        self._install_stale_probe(opt)
        # Model calls of this step by another root (e.g. a target network) are not training batches.
        self.batches = [b for b in self.batches if b.source is best]

    def _optimized_params(self) -> list[tuple[str, torch.Tensor]]:
        if self.model is None or self.optimizer is None:
            return []
        inner = unwrap_model(self.model)
        in_opt = {id(p) for g in self.optimizer.param_groups for p in g["params"]}
        return [(n, p) for n, p in inner.named_parameters() if id(p) in in_opt and p.requires_grad]

    def _install_stale_probe(self, opt: torch.optim.Optimizer) -> None:
        """Watch one small parameter: a gradient hook runs before the new gradient is accumulated into
        ``.grad``, so a non-zero ``.grad`` at the step's first backward was never reset."""
        candidates = [p for _, p in self._optimized_params()]
        if not candidates:
            return
        probe = min(candidates, key=lambda p: p.numel())
        recorder = self

        def hook(grad: torch.Tensor) -> None:
            if not recorder._grad_seen_this_step:
                recorder._grad_seen_this_step = True
                old = probe.grad
                recorder._stale_this_step = old is not None and bool(old.detach().abs().sum() > 0)

        handle = probe.register_hook(hook)
        self._undo.append(handle.remove)

    def finish(self) -> None:
        """After the script stopped: which optimised parameters never changed."""
        if self.initial_state is None or self.model is None:
            return
        for name, p in self._optimized_params():
            before = self.initial_state.get(name)
            if before is not None and torch.equal(before, p.detach()):
                self.params_unchanged.append(name)

    # ----------------------------------------------------------------- summary
    def training_summary(self) -> dict[str, Any]:
        """What was seen of the user's own loop, as JSON-able numbers."""
        finite = [v for v in self.user_losses if math.isfinite(v)]
        return {
            "steps_captured": self.steps,
            "stop_reason": self.stop_reason or "the script finished",
            "user_loss": self.user_losses,
            "backward_calls_per_step": (
                sum(self.backward_calls) / len(self.backward_calls) if self.backward_calls else 0
            ),
            "batches_kept": len(self.batches),
            "batches_dropped": self.batches_dropped,
            "nonfinite_user_losses": len(self.user_losses) - len(finite),
            "stale_gradient_steps": self.stale_steps,
            "single_backward_steps": self.single_backward_steps,
            "params_outside_optimizer": self.params_outside_optimizer,
            "params_without_grad": sorted(self.grad_missing),
            "params_unchanged": self.params_unchanged,
            "eval_mode_steps": self.eval_mode_steps,
            "mode_dependent_layers": self.mode_layers,
        }
