"""Global hooks that watch a training script: model calls, losses, backward passes, optimizer steps.

Everything installed by :meth:`Recorder.install` is removed by :meth:`Recorder.uninstall`, which the
child process calls in a ``finally`` block. The recorder is the only global state fitdoctor keeps, and
only for the lifetime of the capture.
"""

from __future__ import annotations

import functools
import inspect
import math
import os
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Iterable
from typing import Any, NoReturn

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules import module as module_hooks
from torch.optim import optimizer as optimizer_hooks
from torch.overrides import TorchFunctionMode

from fitdoctor.batches import Batch
from fitdoctor.capture.functional import storage_of
from fitdoctor.capture.functorch_slice import assigned_scale, functional_slice
from fitdoctor.capture.manual import ManualUpdateMeter
from fitdoctor.capture.objective import freeze
from fitdoctor.capture.records import (
    INIT_FUNCTIONS,
    LOSS_FUNCTIONS,
    MAX_BATCH_BYTES,
    MAX_BATCHES,
    MODE_DEPENDENT,
    STAGE_GAP,
    SWALLOWED_STOPS,
    VIEW_NODES,
    LossInfo,
    OptimizerRecord,
    ProgramBatch,
    RootCall,
    StopCapture,
    batch_identity,
    detached,
    exotic,
    guarded_hook,
    in_functorch_transform,
    may_warn,
    nbytes,
    path_to,
    same_content,
    tensors_in_output,
    unwrap_model,
    warnings_at_caller,
)

#: Loss functions of ``torch.nn.functional`` that take ``input`` and ``target``. Loss modules
#: look these up at call time, so patching the attribute covers ``nn.MSELoss()`` and friends.
from fitdoctor.capture.sites import CreationSites
from fitdoctor.capture.tape import Tape
from fitdoctor.capture.userframes import Site, UserFiles


class _TapeMode(TorchFunctionMode):
    """Sends torch operations outside model forwards to the recorder's tape."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__()
        self.recorder = recorder

    def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        recorder = self.recorder
        if recorder._taping() and recorder.tape.depends(args, kwargs):
            recorder.tape.record(func, None, args, kwargs, out, recorder.user_files.innermost())
        return out


class Recorder:
    """Captures one training setup from a running script through global hooks.

    Args:
        user_files: Which source files are the user's (for line numbers).
        max_steps: Stop the script after this many optimizer steps.
        time_budget: Stop the script after this many seconds of training (at least one step).
        passive: At the budget, stop recording instead of stopping the code (``fitdoctor.watch``).
        stage: Which training stage to capture (1: the first; a stage starts with a new optimizer).
    """

    def __init__(
        self, user_files: UserFiles, max_steps: int, time_budget: float, passive: bool = False, stage: int = 1
    ) -> None:
        self.user_files = user_files
        self.passive = passive
        self.max_steps = max_steps
        self.time_budget = time_budget
        self.target_stage = stage
        self.stage = 1
        self.stages_seen = 1
        self._stage_steps: dict[int, int] = {}  # steps of every optimizer of the current stage, by id
        self.stopped = False
        self.stop_reason = ""
        #: Why the capture can't be analysed (an unsupported kind of tensor, a failure of our own hooks).
        self.failure: str | None = None
        #: Called (once) when the script keeps training after swallowing :data:`SWALLOWED_STOPS` stops.
        self.on_swallowed: Callable[[], None] | None = None
        self._stop_raises = 0
        self._warnings_shown: set[tuple[Any, ...]] = set()
        self.empty_batches = 0
        self.compile_calls = 0  # torch.compile calls, each answered with the eager model
        self.sites = CreationSites(user_files)
        self._tls = threading.local()
        self._undo: list[Callable[[], None]] = []
        self._pid = os.getpid()
        self._grad_fns: dict[int, tuple[weakref.ref[Any], Callable[..., Any]]] = {}
        self.tape = Tape()
        self._mode: _TapeMode | None = None
        self._installed = False
        self._reset_capture()

    def _reset_capture(self) -> None:
        """Forget what was captured (a new training stage begins)."""
        self.started = time.perf_counter()
        self.first_step_at: float | None = None
        self.steps = 0
        self.model: nn.Module | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.records: list[OptimizerRecord] = []
        self.other_optimizers: list[str] = []
        self.initial_state: dict[str, torch.Tensor] | None = None
        self.optimizer_groups: list[dict[str, Any]] = []
        self.optimizer_site: Site | None = None
        self.model_call_site: Site | None = None
        self.loss: LossInfo | None = None
        self.batches: list[Batch] = []
        self.programs: list[ProgramBatch] = []
        self.program_bytes = 0
        self.programs_dropped = 0
        self.batch_bytes = 0
        self.batches_dropped = 0
        self.user_losses: list[float] = []
        self.backward_calls: list[int] = []
        self.hand_written_loss = False
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
        self._roots: dict[int, weakref.ref[nn.Module]] = {}
        self._pending: list[RootCall] = []
        self._seen_batches: dict[tuple[Any, ...], Batch] = {}
        self._seen_consts: dict[tuple[Any, ...], list[torch.Tensor]] = {}
        self._step_backward_values: list[float] = []
        self._step_loss_values: list[float] = []
        self._step_slices: list[Any] = []
        self._inner_losses: list[tuple[str, dict[str, Any], torch.Tensor, torch.Tensor]] = []
        self._functorch_calls: list[tuple[Any, Any, Any, Any]] = []
        self._functorch_input: int | None = None
        self._functorch_scale = 1.0
        self._tape_mark = 0
        self._closure_opt: torch.optim.Optimizer | None = None
        self._closure_calls = 0
        self.init_sites: dict[str, Site] = {}
        # Weights updated by hand (no torch.optim optimizer): measured between backward calls.
        self.manual = ManualUpdateMeter()
        self.tape.clear()

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
        self._patch(nn.Module, "__init__", self.sites.wrap_module_init(nn.Module.__init__))
        self._patch(torch.optim.Optimizer, "__init__", self.sites.wrap_optimizer_init(torch.optim.Optimizer.__init__))
        for name in INIT_FUNCTIONS:
            original = getattr(nn.init, name, None)
            if original is not None:
                self._patch(nn.init, name, self.sites.wrap_init(original))
        if not self.passive and hasattr(torch, "compile"):
            self._patch(torch, "compile", self._eager_compile)
        for name in ("grad", "grad_and_value"):
            self._patch(torch.func, name, self._wrap_func_grad(getattr(torch.func, name)))
        self._patch(torch.func, "vmap", self._wrap_vmap(torch.func.vmap))
        self._patch(torch, "vmap", self._wrap_vmap(torch.vmap))
        _fork_hook.recorder = weakref.ref(self)
        self._undo.append(_fork_hook.clear)
        mode = _TapeMode(self)
        mode.__enter__()
        self._mode = mode
        self._undo.append(self._exit_mode)
        self._installed = True

    def _exit_mode(self) -> None:
        mode, self._mode = self._mode, None
        if mode is None or getattr(self._tls, "suspended", False):
            self._tls.suspended = False
            return
        stack = torch.overrides._get_current_function_mode_stack()
        if stack and stack[-1] is mode:
            mode.__exit__(None, None, None)

    def uninstall(self) -> None:
        """Remove every hook and patch, in reverse order of installation. A tape mode the script left buried
        under a mode of its own can't be popped; it is made inert instead."""
        self._installed = False
        while self._undo:
            undo = self._undo.pop()
            try:
                undo()
            except Exception as exc:  # keep removing the others; say which one failed
                warnings.warn(f"fitdoctor could not remove a capture hook: {exc!r}", RuntimeWarning, stacklevel=2)
        self.tape.clear()

    def _patch(self, owner: Any, name: str, replacement: Any) -> None:
        original = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
        setattr(owner, name, replacement)
        self._undo.append(lambda: setattr(owner, name, original))

    def _eager_compile(self, model: Any = None, **options: Any) -> Any:
        """``torch.compile`` while capturing: the model or function unchanged, run eagerly.

        Compiled graphs bypass the module hooks the capture relies on, and compiling costs more than the
        short capture gains. Used as a decorator with options (``@torch.compile(mode=...)``), it returns a
        decorator that does the same.
        """
        self.compile_calls += 1
        if model is None:
            return lambda fn: fn
        return model

    def _after_fork(self) -> None:
        # A forked DataLoader worker must not record anything (or stop the script from inside a worker).
        self._pid = -1

    def _active(self) -> bool:
        if not self._installed or (self.passive and self.stopped):
            return False
        return os.getpid() == self._pid and not getattr(self._tls, "busy", False)

    def _suspend_tape(self) -> None:
        """Take the tape mode off this thread's mode stack while a model forward or an optimizer step runs:
        nothing there belongs on the tape, and every torch call through a Python mode costs microseconds
        (an optimizer's per-parameter arithmetic, a tiny model's layers)."""
        mode = self._mode
        if mode is None or getattr(self._tls, "suspended", False):
            return
        stack = torch.overrides._get_current_function_mode_stack()
        if stack and stack[-1] is mode:
            torch._C._pop_torch_function_stack()
            self._tls.suspended = True

    def _resume_tape(self) -> None:
        if getattr(self._tls, "suspended", False) and self._mode is not None and self._installed:
            torch._C._push_on_torch_function_stack(self._mode)
        self._tls.suspended = False

    def _in_model(self) -> bool:
        return bool(getattr(self._tls, "stack", None))

    def _taping(self) -> bool:
        """Whether the current torch operation belongs on the loss tape."""
        return (
            self._active()
            and not self._in_model()
            and torch.is_grad_enabled()
            and not in_functorch_transform()
            and self.stage >= self.target_stage
        )

    # ----------------------------------------------------------------- creation sites
    # ----------------------------------------------------------------- module calls
    def _stack(self) -> list[nn.Module]:
        stack = getattr(self._tls, "stack", None)
        if stack is None:
            stack = self._tls.stack = []
        return stack

    @guarded_hook
    def _forward_pre(self, module: nn.Module, args: Any) -> None:
        if not self._active() or isinstance(module, nn.modules.loss._Loss):
            return  # a loss module is part of the objective, not of the model
        if self.stopped:
            self._raise_stop()
        stack = self._stack()
        if not stack:
            self._roots[id(module)] = weakref.ref(module)
            if in_functorch_transform() and args:
                self._functorch_input = storage_of(args[0])
            self._suspend_tape()
        stack.append(module)

    @guarded_hook
    def _forward_post(self, module: nn.Module, *rest: Any) -> None:
        if not self._active() or isinstance(module, nn.modules.loss._Loss):
            return
        stack = self._stack()
        if stack and stack[-1] is module:
            stack.pop()
        elif module in stack:
            del stack[stack.index(module) :]
        if not stack:
            self._resume_tape()
        if stack or not torch.is_grad_enabled() or in_functorch_transform():
            return
        args = rest[0] if rest else ()
        kwargs = rest[1] if len(rest) == 3 and isinstance(rest[1], dict) else {}
        output = rest[-1] if rest else None
        site = self.user_files.innermost()
        if self._taping():
            self.tape.record(None, module, tuple(args), dict(kwargs), output, site)
        self._pending.append(RootCall(module, tuple(args), dict(kwargs), output, site))
        del self._pending[:-8]

    # ----------------------------------------------------------------- losses and backward
    def _wrap_loss(self, name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(original)
        recorder = self

        @functools.wraps(original)
        def loss(*args: Any, **kwargs: Any) -> Any:
            if recorder._active() and in_functorch_transform():
                recorder._functorch_loss(name, signature, args, kwargs)
                return original(*args, **kwargs)
            if not recorder._active() or not torch.is_grad_enabled():
                return original(*args, **kwargs)
            if recorder._in_model() and recorder.loss_in_model is None:
                recorder.loss_in_model = recorder.user_files.innermost()
            taping = recorder._taping() and recorder.tape.depends(args, kwargs)
            recorder._tls.busy = True
            try:
                if may_warn(args, kwargs):
                    shown, where = recorder._warnings_shown, recorder.user_files.original
                    result = warnings_at_caller(original, args, kwargs, shown, where)
                else:
                    result = original(*args, **kwargs)
                try:
                    bound = signature.bind(*args, **kwargs)
                except TypeError:
                    bound = None  # the call itself raised or will: nothing to record
                if bound is not None:
                    recorder._record_loss(name, dict(bound.arguments), result)
            finally:
                recorder._tls.busy = False
            if taping:
                recorder.tape.record(original, None, args, kwargs, result, recorder.user_files.innermost())
            return result

        return loss

    @guarded_hook
    def _record_loss(self, name: str, arguments: dict[str, Any], result: Any) -> None:
        prediction = arguments.pop("input", None)
        target = arguments.pop("target", None)
        if not isinstance(prediction, torch.Tensor) or not isinstance(target, torch.Tensor):
            return
        if self._in_model():
            kwargs = {k: v for k, v in arguments.items() if k not in ("size_average", "reduce")}
            self._inner_losses.append((name, kwargs, prediction, target))
            del self._inner_losses[:-4]
            return
        self._refuse_exotic((prediction, target, result), "outputs and losses")
        if self.stopped:
            return
        if isinstance(result, torch.Tensor) and result.numel() == 1:
            self._step_loss_values.append(float(result.detach()))
        for call in reversed(self._pending):
            for path, out in tensors_in_output(call.output):
                if prediction is out:
                    ops: list[str] | None = []
                else:
                    ops = path_to(prediction, out.grad_fn) if out.grad_fn is not None else None
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
                    )
                self._add_batch(call, path, prediction, target)
                self._pending.remove(call)
                return

    def _add_batch(self, call: RootCall, path: tuple[Any, ...], prediction: torch.Tensor, target: torch.Tensor) -> None:
        if self.model is not None and call.module is not self.model:
            return
        self._refuse_exotic((*call.args, *call.kwargs.values()), "inputs")
        if target.numel() == 0:
            self.empty_batches += 1  # nothing to measure in a batch without rows
            return
        key = batch_identity(call.args, call.kwargs, target)
        same = self._seen_batches.get(key) if key is not None else None
        if same is not None and not same_content(same, call.args, call.kwargs, target):
            same = None  # the allocator reused a freed batch's address for new data
        if same is not None:
            # A full-batch loop feeds the same tensors every step: store them once.
            self.batches.append(same)
            return
        batch = Batch(call.args, call.kwargs, target, tuple(prediction.shape), path, call.module)
        size = nbytes(batch.args) + nbytes(batch.kwargs) + nbytes(target)
        if len(self.batches) >= MAX_BATCHES or self.batch_bytes + size > MAX_BATCH_BYTES:
            self.batches_dropped += 1
            return
        batch.args = detached(call.args)
        batch.kwargs = detached(call.kwargs)
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
            if not recorder._active() or in_functorch_transform():
                return original(tensors, *args, **kwargs)
            sliced = recorder._before_backward(tensors, kwargs)
            result = original(tensors, *args, **kwargs)
            if sliced is not None and recorder._manual():
                recorder._after_backward(sliced)
            return result

        return backward

    @guarded_hook
    def _before_backward(self, tensors: Any, kwargs: dict[str, Any]) -> Any:
        """Account for one backward call; returns the objective it backpropagates (a tape slice) or None."""
        first = tensors[0] if isinstance(tensors, (tuple, list)) and tensors else tensors
        if self.stage < self.target_stage:
            return None
        if self.stopped:
            self._raise_stop()
        if self._manual() and self.manual.pending:
            self._manual_step()
        self.backward_total += 1
        sliced = None
        if self._closure_opt is not None:
            self._closure_calls += 1
            if self._closure_calls > 1:
                return None  # LBFGS evaluates the closure several times per step: the first one stands for it
            if not self._known(self._closure_opt):
                self._identify(self._closure_opt)
        if isinstance(first, torch.Tensor):
            self._refuse_exotic((first,), "losses")
        if isinstance(first, torch.Tensor) and first.numel() == 1 and not self.stopped:
            self._step_backward_values.append(float(first.detach()))
            sliced = self.tape.slice(first)
            if sliced is not None:
                sliced.inner_losses = list(self._inner_losses)
                self._step_slices.append(sliced)
        self._inner_losses = []
        return sliced

    # ----------------------------------------------------------------- weights updated by hand
    def _manual(self) -> bool:
        """Whether the weights may be updated by hand: no torch.optim optimizer has stepped."""
        return self.optimizer is None and (not self.records or self.records[0].opt is None)

    @guarded_hook
    def _after_backward(self, sliced: Any) -> None:
        """No optimizer has stepped yet: remember the trained tensors and their new gradients, so the next
        backward call can measure an update the script applies by hand."""
        self.manual.remember(sliced, first=self.steps == 0)

    def _manual_step(self) -> None:
        """Between two backward calls without any optimizer: measure the update the script applied."""
        update = self.manual.measure()
        if update is None:
            return
        if not self.records and self.manual.start:
            roots, leaves, states = self.manual.start
            record = OptimizerRecord(None, 0, None, roots, leaves, states)
            self._name(record)
            record.leaf_values = [self.manual.value_before(p) for p in leaves]
            self.records.append(record)
        if not self.records:
            self.manual.clear()
            return
        self.manual.record(update)
        self.steps += 1
        self.records[0].steps += 1
        if self.first_step_at is None:
            self.first_step_at = time.perf_counter()
        self.manual.clear()
        self._forget_old_operations()
        self._account_manual()

    def _account_manual(self) -> None:
        values = self._step_backward_values
        if values:
            self.user_losses.append(sum(values) / len(values))
            self.hand_written_loss = self.hand_written_loss or not self._step_loss_values
        self.backward_calls.append(len(values) or 1)
        self._commit_programs(0)
        self._step_backward_values.clear()
        self._step_loss_values.clear()
        if self.steps >= self.max_steps:
            self._stop(f"step budget of {self.max_steps} steps reached")
        elif time.perf_counter() - self.started > self.time_budget:
            self._stop(f"time budget of {self.time_budget:g} s reached after {self.steps} steps")

    # ----------------------------------------------------------------- torch.func per-sample gradients
    @guarded_hook
    def _functorch_loss(self, name: str, signature: inspect.Signature, args: Any, kwargs: Any) -> None:
        """A loss called inside a torch.func transform: its kind and where its target lives (no copies, no
        host syncs: only storage addresses)."""
        try:
            bound = signature.bind(*args, **kwargs).arguments
        except TypeError:
            return
        extra = {k: v for k, v in bound.items() if k not in ("input", "target", "size_average", "reduce")}
        if any(isinstance(v, torch.Tensor) for v in extra.values()):
            extra = {k: v for k, v in extra.items() if not isinstance(v, torch.Tensor)}
        self._functorch_seen = (name, extra, storage_of(bound.get("target")))

    def _wrap_func_grad(self, original: Callable[..., Any]) -> Callable[..., Any]:
        recorder = self

        @functools.wraps(original)
        def grad(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            transformed = original(func, *args, **kwargs)
            recorder._grad_fns[id(transformed)] = (weakref.ref(transformed), func)
            return transformed

        return grad

    def _wrap_vmap(self, original: Callable[..., Any]) -> Callable[..., Any]:
        recorder = self

        @functools.wraps(original)
        def vmap(func: Callable[..., Any], in_dims: Any = 0, *rest: Any, **options: Any) -> Any:
            mapped = original(func, in_dims, *rest, **options)
            known = recorder._grad_fns.get(id(func))
            if known is None or known[0]() is not func:
                return mapped
            loss_fn = known[1]

            @functools.wraps(mapped)
            def per_sample(*args: Any, **kwargs: Any) -> Any:
                if recorder._active() and not in_functorch_transform() and recorder.stage >= recorder.target_stage:
                    recorder._functorch_calls = [(loss_fn, in_dims, args, kwargs)]
                return mapped(*args, **kwargs)

            return per_sample

        return vmap

    def _functional_slice(self, opt: torch.optim.Optimizer) -> Any:
        """The objective of a step whose gradients came from ``vmap(grad(loss_fn))``, or None."""
        loss_fn, in_dims, args, kwargs = self._functorch_calls[-1]
        self._functorch_calls = []
        params = {p.untyped_storage().data_ptr(): p for g in opt.param_groups for p in g["params"]}

        def scale_of() -> float:
            # Measured at the first step; later steps of the same loop scale alike.
            if not self.steps:
                self._tls.busy = True
                try:
                    self._functorch_scale = assigned_scale(loss_fn, in_dims, args, kwargs, params)
                finally:
                    self._tls.busy = False
            return float(self._functorch_scale)

        seen = getattr(self, "_functorch_seen", None)
        site = self.user_files.innermost()
        return functional_slice(loss_fn, in_dims, args, kwargs, params, seen, self._functorch_input, scale_of, site)

    # ----------------------------------------------------------------- optimizer steps
    def _known(self, opt: torch.optim.Optimizer) -> bool:
        return any(r.opt is opt for r in self.records)

    def _record_of(self, opt: torch.optim.Optimizer) -> OptimizerRecord | None:
        return next((r for r in self.records if r.opt is opt), None)

    @guarded_hook
    def _step_pre(self, opt: torch.optim.Optimizer, args: Any, kwargs: Any) -> Any:
        if not self._active():
            return None
        if self.stopped:
            self._raise_stop()
        if id(opt) not in self._stage_steps and self._new_stage(opt):
            return None
        self._stage_steps[id(opt)] = self._stage_steps.get(id(opt), 0) + 1
        if self.stage < self.target_stage:
            return None
        # The hook sees the step's arguments with the optimizer itself first.
        args = tuple(args)
        first = 1 if args and args[0] is opt else 0
        closure = kwargs.get("closure") if kwargs else None
        if closure is None and len(args) > first and callable(args[first]):
            closure = args[first]
        if closure is not None:
            wrapped = self._wrap_closure(opt, closure)
            if kwargs and "closure" in kwargs:
                return args, {**kwargs, "closure": wrapped}
            return (*args[:first], wrapped, *args[first + 1 :]), dict(kwargs or {})
        if not self._step_backward_values and self._functorch_calls:
            sliced = self._functional_slice(opt)
            if sliced is not None:
                self._step_slices.append(sliced)
        if not self._known(opt):
            self._identify(opt)
        self._account(opt)
        self._suspend_tape()
        return None

    def _wrap_closure(self, opt: torch.optim.Optimizer, closure: Callable[[], Any]) -> Callable[[], Any]:
        recorder = self

        @functools.wraps(closure)
        def wrapped() -> Any:
            outer = recorder._closure_opt
            recorder._closure_opt = opt
            try:
                return closure()
            finally:
                recorder._closure_opt = outer

        self._closure_calls = 0
        record = self._record_of(opt)
        if record is not None:
            record.closure = True
        return wrapped

    def _new_stage(self, opt: torch.optim.Optimizer) -> bool:
        """Whether ``opt``'s first step starts a new training stage; acts on it (returns True when the
        step is to be ignored)."""
        if sum(self._stage_steps.values()) <= STAGE_GAP:
            return False
        self.stages_seen = self.stage + 1
        if self.stage >= self.target_stage:
            self._stop(f"stage {self.stage} ended: a new optimizer starts stage {self.stage + 1}")
            return True
        self.stage += 1
        self._stage_steps = {}
        self._reset_capture()
        return False

    @guarded_hook
    def _step_post(self, opt: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        self._resume_tape()
        if not self._active() or self.stage < self.target_stage:
            return
        record = self._record_of(opt)
        if record is None:
            return
        if record.closure:
            self._account(opt)
            self._closure_calls = 0
        record.steps += 1
        self.steps += 1
        self._forget_old_operations()
        self._pending.clear()
        self._grad_seen_this_step = False
        self._stale_this_step = False
        now = time.perf_counter()
        if self.steps >= self.max_steps:
            self._stop(f"step budget of {self.max_steps} steps reached")
        elif self.first_step_at is not None and now - self.started > self.time_budget:
            self._stop(f"time budget of {self.time_budget:g} s reached after {self.steps} steps")

    def _forget_old_operations(self) -> None:
        """Keep the tape to the operations of this step and the one before."""
        self.tape.prune(self._tape_mark)
        self._tape_mark = self.tape.mark()

    def _account(self, opt: torch.optim.Optimizer) -> None:
        """The loop facts of one step of ``opt`` (before its update)."""
        record = self._record_of(opt)
        index = record.index if record is not None else 0
        self._commit_programs(index)
        if opt is not self.optimizer:
            self._step_backward_values.clear()
            self._step_loss_values.clear()
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

    def _commit_programs(self, optimizer: int) -> None:
        """The objectives backpropagated since the last step belong to this step of ``optimizer``."""
        for sliced in self._step_slices:
            self._refuse_exotic(sliced.consts, "inputs")
            if any(c.ndim and c.shape[0] == 0 for c in sliced.consts):
                self.empty_batches += 1  # nothing to measure in a batch without rows
                continue
            freeze(sliced)  # the user's tensors are not kept past their step
            size = sum(c.numel() * c.element_size() for c in sliced.consts)
            if len(self.programs) >= MAX_BATCHES or self.program_bytes + size > MAX_BATCH_BYTES:
                self.programs_dropped += 1
                continue
            sliced.consts = [self._dedupe(c) for c in sliced.consts]
            self.program_bytes += size
            self.programs.append(ProgramBatch(sliced, optimizer))
        self._step_slices = []

    def _dedupe(self, t: torch.Tensor) -> torch.Tensor:
        """One stored copy of a constant that a full-batch loop feeds every step."""
        total = float(t.double().sum()) if t.numel() and not t.is_complex() else 0.0
        key = (tuple(t.shape), t.dtype, total)
        for seen in self._seen_consts.setdefault(key, []):
            if torch.equal(seen, t):
                return seen
        self._seen_consts[key].append(t)
        return t

    def _stop(self, reason: str) -> None:
        self.stopped = True
        self.stop_reason = reason
        if not self.passive:
            self._raise_stop()

    def _raise_stop(self) -> NoReturn:
        """Stop the script; once it has swallowed too many stops, hand over to :attr:`on_swallowed`."""
        self._stop_raises += 1
        if self._stop_raises > SWALLOWED_STOPS and self.on_swallowed is not None:
            callback, self.on_swallowed = self.on_swallowed, None
            callback()
        raise StopCapture(self.stop_reason)

    def _fail(self, reason: str) -> None:
        """End the capture: what the script trains can't be analysed (``reason`` says why)."""
        if self.failure is None:
            self.failure = reason
        self._stop(reason)

    def _refuse_exotic(self, tensors: Iterable[Any], what: str) -> None:
        """End the capture when one of ``tensors`` is of a kind fitdoctor can't measure."""
        for t in tensors:
            kind = exotic(t) if isinstance(t, torch.Tensor) else None
            if kind is not None:
                self._fail(f"the training's {what} are {kind}, which fitdoctor's probes and replays can't measure yet")

    def _identify(self, opt: torch.optim.Optimizer) -> None:
        """What ``opt`` trains: the root modules (and raw tensors) its parameters belong to, with their
        state before the first update."""
        params = {id(p): p for group in opt.param_groups for p in group["params"]}
        self._refuse_exotic(params.values(), "parameters")
        if self.stopped:
            return
        record = OptimizerRecord(opt, len(self.records), self.sites.of_optimizer(opt))
        candidates: list[nn.Module] = []
        for sliced in self._step_slices:
            candidates.extend(sliced.modules.values())
        candidates += [c.module for c in reversed(self._pending)]
        candidates += [m for ref in self._roots.values() if (m := ref()) is not None]
        covered: set[int] = set()
        for candidate in candidates:
            inner = unwrap_model(candidate)
            if any(inner is r for r in record.roots):
                continue
            owned = {id(p) for p in inner.parameters()}
            if owned & set(params) and not owned <= covered:
                record.roots.append(inner)
                covered |= owned
        record.leaves = [p for i, p in params.items() if i not in covered and p.requires_grad]
        record.states = [{k: v.detach().clone() for k, v in r.state_dict().items()} for r in record.roots]
        record.leaf_values = [p.detach().clone() for p in record.leaves]
        self._name(record)
        self.records.append(record)
        if len(self.records) > 1:
            name = type(opt).__name__
            self.other_optimizers.append(name)
            return
        self.optimizer = opt
        self.first_step_at = time.perf_counter()
        self.optimizer_site = record.site
        # The legacy single-model view: the root that shares most parameters with the optimizer.
        best: nn.Module | None = None
        best_overlap = 0
        for candidate in [c.module for c in reversed(self._pending)] + candidates:
            overlap = sum(1 for p in candidate.parameters() if id(p) in params)
            if overlap > best_overlap:
                best, best_overlap = candidate, overlap
        if best is None:
            return
        self.model = best
        inner = unwrap_model(best)
        self.initial_state = {k: v.detach().clone() for k, v in inner.state_dict().items()}
        names = {id(p): n for n, p in inner.named_parameters()}
        for group in opt.param_groups:
            hyper = {k: v for k, v in group.items() if k != "params"}
            hyper["params"] = [names[id(p)] for p in group["params"] if id(p) in names]
            self.optimizer_groups.append(hyper)
        self.params_outside_optimizer = [
            n for n, p in inner.named_parameters() if p.requires_grad and id(p) not in params
        ]
        self.mode_layers = [n for n, m in inner.named_modules() if isinstance(m, MODE_DEPENDENT)]
        for n, p in inner.named_parameters():
            init_site = self.sites.of_init(p)
            if init_site is not None:
                self.init_sites[n] = init_site
        self._install_stale_probe(opt)
        # Model calls of this step by another root (e.g. a target network) are not training batches.
        self.batches = [b for b in self.batches if b.source is best]

    def _name(self, record: OptimizerRecord) -> None:
        """The script's names for what an optimizer trains (variables or attributes in the user's frames)."""
        wanted = [*record.roots, *record.leaves]
        found: dict[int, str] = {}
        frame: Any = sys._getframe(1)
        while frame is not None and len(found) < len(wanted):
            if self.user_files.is_user(frame.f_code.co_filename):
                for scope in (frame.f_locals, frame.f_globals):
                    for name, value in list(scope.items()):
                        owner = vars(value) if name == "self" and hasattr(value, "__dict__") else None
                        items = [(name, value)]
                        if owner is not None:
                            items += list(owner.get("_modules", {}).items()) + list(owner.items())
                        for key, obj in items:
                            if not isinstance(key, str) or key.startswith("_"):
                                continue
                            for target in wanted:
                                if obj is target and id(target) not in found:
                                    found[id(target)] = key
            frame = frame.f_back
        record.names = [found.get(id(r), type(r).__name__.lower()) for r in record.roots]
        record.leaf_names = [found.get(id(t), f"tensor{i}") for i, t in enumerate(record.leaves)]

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
                recorder._stale_this_step = old is not None and bool((old.detach() != 0).any())

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


class _ForkHook:
    """One process-wide fork hook (``os.register_at_fork`` can't be undone): it reaches the recorder
    through a weak reference, so a finished recorder is freed with its batches."""

    def __init__(self) -> None:
        self.recorder: Callable[[], Recorder | None] = lambda: None
        os.register_at_fork(after_in_child=self._after_fork)

    def clear(self) -> None:
        self.recorder = lambda: None

    def _after_fork(self) -> None:
        recorder = self.recorder()
        if recorder is not None:
            recorder._after_fork()


_fork_hook = _ForkHook()
