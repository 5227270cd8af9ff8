"""Global hooks that watch a training script: model calls, losses, backward passes, optimizer steps.

Everything installed by :meth:`Recorder.install` is removed by :meth:`Recorder.uninstall`, which the
child process calls in a ``finally`` block. The recorder is the only global state fitdoctor keeps, and
only for the lifetime of the capture.
"""

from __future__ import annotations

import functools
import inspect
import os
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules import module as module_hooks
from torch.optim import optimizer as optimizer_hooks

from fitdoctor.capture.batch_store import BatchStore
from fitdoctor.capture.budget import CaptureBudget
from fitdoctor.capture.forkhook import fork_hook
from fitdoctor.capture.functional import storage_of
from fitdoctor.capture.functorch_slice import FunctorchWatch
from fitdoctor.capture.identify import main_model, name_targets, new_record, optimizer_params, parameter_groups
from fitdoctor.capture.loop_facts import LoopFacts
from fitdoctor.capture.manual import ManualUpdateMeter
from fitdoctor.capture.model_calls import ModelCalls
from fitdoctor.capture.records import (
    INIT_FUNCTIONS,
    LOSS_FUNCTIONS,
    MODE_DEPENDENT,
    STAGE_GAP,
    LossInfo,
    OptimizerRecord,
    RootCall,
    in_functorch_transform,
    may_warn,
    source_call,
    transform_of,
    unwrap_model,
    warnings_at_caller,
)
from fitdoctor.capture.schedulers import SchedulerWatch, group_lrs, scheduler_classes
from fitdoctor.capture.sites import CreationSites
from fitdoctor.capture.stops import StopControl, guarded_hook
from fitdoctor.capture.tape import Tape, is_bookkeeping
from fitdoctor.capture.tape_mode import TapeSwitch, bookkeeping, untape_data_loaders
from fitdoctor.capture.userframes import Site, UserFiles
from fitdoctor.summary import LoopSummary


class Recorder:
    """Captures one training setup from a running script through global hooks.

    Args:
        user_files: Which source files are the user's (for line numbers).
        budget: When to stop the script (steps, seconds, the capture target).
        passive: At the budget, stop recording instead of stopping the code (``fitdoctor.watch``).
        stage: Which training stage to capture (1: the first; a stage starts with a new optimizer).
    """

    def __init__(self, user_files: UserFiles, budget: CaptureBudget, passive: bool = False, stage: int = 1) -> None:
        self.user_files = user_files
        self.passive = passive
        self.budget = budget
        self.target_stage = stage
        self.stage = 1
        self.stages_seen = 1
        self._stage_steps: dict[int, int] = {}  # steps of every optimizer of the current stage, by id
        self.stops = StopControl(passive)
        self._warnings_shown: set[tuple[Any, ...]] = set()
        self.compile_calls = 0  # torch.compile calls, each answered with the eager model
        self.sites = CreationSites(user_files)
        self._tls = threading.local()
        self._undo: list[Callable[[], None]] = []
        self._pid = os.getpid()
        self.functorch = FunctorchWatch(self._live_outside_transform, self._quiet)
        self.tape = Tape()
        self._switch = TapeSwitch(self._on_operation)
        self.calls = ModelCalls(self._undo)
        self.schedulers = SchedulerWatch(user_files, self._live_outside_transform)
        self._installed = False
        self._reset_capture()

    def _reset_capture(self) -> None:
        """Forget what was captured (a new training stage begins)."""
        self.started = time.perf_counter()
        self.first_step_at: float | None = None
        self.last_step_at: float | None = None
        self._first_cpu: float | None = None  # CPU seconds of this process at the first step's end
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
        self.store = BatchStore()
        self.facts = LoopFacts()
        self.loss_in_model: Site | None = None
        self._roots: dict[int, weakref.ref[nn.Module]] = {}
        self._pending: list[RootCall] = []
        self._step_slices: list[Any] = []
        self._inner_losses: list[tuple[str, dict[str, Any], torch.Tensor, torch.Tensor]] = []
        self.functorch.reset()
        self._tape_mark = 0
        self._closure_opt: torch.optim.Optimizer | None = None
        self._closure_calls = 0
        self.init_sites: dict[str, Site] = {}
        # Weights updated by hand (no torch.optim optimizer): measured between backward calls.
        self.manual = ManualUpdateMeter()
        self.schedulers.reset()
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
            self._patch(torch.func, name, self.functorch.wrap_grad(getattr(torch.func, name)))
        self._patch(torch.func, "vmap", self.functorch.wrap_vmap(torch.func.vmap))
        for cls in scheduler_classes():
            self._patch(cls, "step", self.schedulers.wrap(cls.__dict__["step"]))
        self._patch(torch, "vmap", self.functorch.wrap_vmap(torch.vmap))
        self._undo.append(untape_data_loaders(self._switch))
        fork_hook.recorder = weakref.ref(self)
        self._undo.append(fork_hook.clear)
        self._switch.enter()
        self._undo.append(self._switch.exit)
        self._installed = True

    def uninstall(self) -> None:
        """Remove every hook and patch, in reverse order of installation. A tape mode the script left buried
        under a mode of its own can't be popped; it is made inert instead (see :meth:`TapeSwitch.exit`)."""
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
        if not self._installed or (self.passive and self.stops.stopped):
            return False
        return os.getpid() == self._pid and not getattr(self._tls, "busy", False)

    def _live_outside_transform(self) -> bool:
        return self._active() and not in_functorch_transform() and self.stage >= self.target_stage

    @contextmanager
    def _quiet(self) -> Iterator[None]:
        """Nothing fitdoctor computes in this block is recorded (a loss function it calls itself)."""
        self._tls.busy = True
        try:
            yield
        finally:
            self._tls.busy = False

    def _on_operation(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> None:
        if not is_bookkeeping(func) and self._taping() and self.tape.depends(args, kwargs):
            self.tape.record(func, None, args, kwargs, out, self.user_files.innermost())

    def _in_model(self) -> bool:
        return self.calls.in_model()

    def _taping(self) -> bool:
        """Whether the current torch operation belongs on the loss tape."""
        return (
            self._active()
            and not self._in_model()
            and torch.is_grad_enabled()
            and not in_functorch_transform()
            and self.stage >= self.target_stage
        )

    # ----------------------------------------------------------------- module calls
    @guarded_hook
    def _forward_pre(self, module: nn.Module, args: Any) -> None:
        if not self._active() or isinstance(module, nn.modules.loss._Loss):
            return  # a loss module is part of the objective, not of the model
        if self.stops.stopped:
            self.stops.raise_stop()
        if self.calls.enter(module, args, self._root_post):
            self._roots[id(module)] = weakref.ref(module)
            if in_functorch_transform() and args:
                self.functorch.input = storage_of(args[0])
            self._switch.suspend()

    @guarded_hook
    def _forward_post(self, module: nn.Module, *rest: Any) -> None:
        if self._active() and not isinstance(module, nn.modules.loss._Loss) and not self.calls.defers(module):
            self._leave(module, rest)

    @guarded_hook
    def _root_post(self, module: nn.Module, args: Any, kwargs: Any, output: Any) -> None:
        if self.calls.resumes(module):
            self._leave(module, (args, kwargs, output))

    def _leave(self, module: nn.Module, rest: tuple[Any, ...]) -> None:
        ended = self.calls.leave(module, rest)
        if ended is None:
            return
        self._switch.resume()
        if not torch.is_grad_enabled() or in_functorch_transform():
            return
        args, kwargs, output = ended
        site = self.user_files.innermost()
        if self._taping():
            self.tape.record(None, module, args, kwargs, output, site)
        self._pending.append(RootCall(module, args, kwargs, output, site))
        del self._pending[:-8]

    # ----------------------------------------------------------------- losses and backward
    def _wrap_loss(self, name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(original)
        recorder = self

        @functools.wraps(original)
        def loss(*args: Any, **kwargs: Any) -> Any:
            if recorder._active() and in_functorch_transform():
                recorder.functorch.note_loss(name, signature, args, kwargs)
                return original(*args, **kwargs)
            if not recorder._active() or not torch.is_grad_enabled():
                return original(*args, **kwargs)
            if recorder._in_model() and recorder.loss_in_model is None:
                recorder.loss_in_model = recorder.user_files.innermost()
            taping = recorder._taping() and recorder.tape.depends(args, kwargs)
            with recorder._quiet(), recorder._switch.paused():
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
            if taping:
                recorder.tape.record(original, None, args, kwargs, result, recorder.user_files.innermost())
            return result

        return loss

    @guarded_hook
    @bookkeeping
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
        self.stops.refuse_exotic((prediction, target, result), "outputs and losses")
        if self.stops.stopped:
            return
        if isinstance(result, torch.Tensor) and result.numel() == 1:
            self.facts.loss_values.append(float(result.detach()))
        found = source_call(self._pending, prediction)
        if found is None:
            return
        call, path, ops = found
        if self.loss is None:
            kwargs = {k: v for k, v in arguments.items() if k not in ("size_average", "reduce")}
            self.loss = LossInfo(name, kwargs, self.user_files.innermost(), transform_of(ops), ops)
        self._add_batch(call, path, prediction, target)
        self._pending.remove(call)

    def _add_batch(self, call: RootCall, path: tuple[Any, ...], prediction: torch.Tensor, target: torch.Tensor) -> None:
        if self.model is not None and call.module is not self.model:
            return
        self.stops.refuse_exotic((*call.args, *call.kwargs.values()), "inputs")
        if self.store.add_batch(call, path, prediction, target) and self.model_call_site is None:
            self.model_call_site = call.site

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
    @bookkeeping
    def _before_backward(self, tensors: Any, kwargs: dict[str, Any]) -> Any:
        """Account for one backward call; returns the objective it backpropagates (a tape slice) or None."""
        first = tensors[0] if isinstance(tensors, (tuple, list)) and tensors else tensors
        if self.stage < self.target_stage:
            return None
        if self.stops.stopped:
            self.stops.raise_stop()
        if self._manual() and self.manual.pending:
            self._manual_step()
        self.facts.backward_total += 1
        sliced = None
        if self._closure_opt is not None:
            self._closure_calls += 1
            if self._closure_calls > 1:
                return None  # LBFGS evaluates the closure several times per step: the first one stands for it
            if not self._known(self._closure_opt):
                self._identify(self._closure_opt)
        if isinstance(first, torch.Tensor):
            self.stops.refuse_exotic((first,), "losses")
        if isinstance(first, torch.Tensor) and first.numel() == 1 and not self.stops.stopped:
            self.facts.backward_values.append(float(first.detach()))
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
    @bookkeeping
    def _after_backward(self, sliced: Any) -> None:
        """No optimizer has stepped yet: remember the trained tensors and their new gradients, so the next
        backward call can measure an update the script applies by hand."""
        self.manual.remember(sliced, first=self.steps == 0)

    def _manual_step(self) -> None:
        """Between two backward calls without any optimizer: measure the update the script applied."""
        update = self.manual.measure()
        if update is None:
            return
        record = self.manual.first_record() if not self.records else None
        if record is not None:
            name_targets(record, self.user_files)
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
        self.facts.end_manual_step()
        self._commit_programs(0)
        self._check_budget(time.perf_counter())

    # ----------------------------------------------------------------- optimizer steps
    def _known(self, opt: torch.optim.Optimizer) -> bool:
        return any(r.opt is opt for r in self.records)

    def _record_of(self, opt: torch.optim.Optimizer) -> OptimizerRecord | None:
        return next((r for r in self.records if r.opt is opt), None)

    @guarded_hook
    def _step_pre(self, opt: torch.optim.Optimizer, args: Any, kwargs: Any) -> Any:
        if not self._active():
            return None
        # Off the mode stack until the step's post hook: this bookkeeping and the optimizer's arithmetic
        # (back on for a closure, which runs the script's forward and loss).
        self._switch.suspend()
        if self.stops.stopped:
            self.stops.raise_stop()
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
            self._switch.resume()
            wrapped = self._wrap_closure(opt, closure)
            if kwargs and "closure" in kwargs:
                return args, {**kwargs, "closure": wrapped}
            return (*args[:first], wrapped, *args[first + 1 :]), dict(kwargs or {})
        if not self.facts.backward_values and self.functorch.calls:
            sliced = self.functorch.step_slice(opt, self.steps == 0, self.user_files.innermost())
            if sliced is not None:
                self._step_slices.append(sliced)
        if not self._known(opt):
            self._identify(opt)
        self._account(opt)
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
            self.stops.stop(f"stage {self.stage} ended: a new optimizer starts stage {self.stage + 1}")
            return True
        self.stage += 1
        self._stage_steps = {}
        self._reset_capture()
        return False

    @guarded_hook
    def _step_post(self, opt: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        try:
            self._after_step(opt)
        finally:
            self._switch.resume()

    def _after_step(self, opt: torch.optim.Optimizer) -> None:
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
        self.facts.end_update()
        if self.first_step_at is not None:
            self._check_budget(time.perf_counter())

    def _check_budget(self, now: float) -> None:
        self.last_step_at = now
        cpu = time.process_time()
        self._first_cpu = cpu if self._first_cpu is None else self._first_cpu
        reason = self.budget.reached(self.steps, now - self.started, cpu - self._first_cpu)
        if reason is not None:
            self.stops.stop(reason)

    def _forget_old_operations(self) -> None:
        """Keep the tape to the operations of this step and the one before."""
        self.tape.prune(self._tape_mark)
        self._tape_mark = self.tape.mark()

    def _account(self, opt: torch.optim.Optimizer) -> None:
        """The loop facts of one step of ``opt`` (before its update)."""
        record = self._record_of(opt)
        self._commit_programs(record.index if record is not None else 0)
        if opt is not self.optimizer:
            self.facts.forget_step()
            return
        eval_mode = self.model is not None and not unwrap_model(self.model).training
        self.facts.end_step(self.steps, self._optimized_params(), eval_mode, group_lrs(opt))

    def _commit_programs(self, optimizer: int) -> None:
        """The objectives backpropagated since the last step belong to this step of ``optimizer``."""
        slices, self._step_slices = self._step_slices, []
        self.store.commit(slices, optimizer, self.stops.refuse_exotic)

    def _identify(self, opt: torch.optim.Optimizer) -> None:
        """What ``opt`` trains, with its state before the first update; the first optimizer is the one
        checked, and the root sharing most of its parameters is the model the probes measure."""
        params = optimizer_params(opt)
        self.stops.refuse_exotic(params.values(), "parameters")
        if self.stops.stopped:
            return
        pending = [c.module for c in reversed(self._pending)]
        candidates = [m for sliced in self._step_slices for m in sliced.modules.values()]
        candidates += pending + [m for ref in self._roots.values() if (m := ref()) is not None]
        record = new_record(opt, len(self.records), self.sites.of_optimizer(opt), candidates)
        name_targets(record, self.user_files)
        self.records.append(record)
        if len(self.records) > 1:
            self.other_optimizers.append(type(opt).__name__)
            return
        self.optimizer = opt
        self.first_step_at = time.perf_counter()
        self.optimizer_site = record.site
        best = main_model(pending + candidates, params)
        if best is None:
            return
        self.model = best
        inner = unwrap_model(best)
        self.initial_state = {k: v.detach().clone() for k, v in inner.state_dict().items()}
        self.optimizer_groups = parameter_groups(opt, inner)
        self.facts.params_outside_optimizer = [
            n for n, p in inner.named_parameters() if p.requires_grad and id(p) not in params
        ]
        self.facts.mode_layers = [n for n, m in inner.named_modules() if isinstance(m, MODE_DEPENDENT)]
        for n, p in inner.named_parameters():
            init_site = self.sites.of_init(p)
            if init_site is not None:
                self.init_sites[n] = init_site
        remove = self.facts.watch_stale([p for _, p in self._optimized_params()])
        if remove is not None:
            self._undo.append(remove)
        # Model calls of this step by another root (e.g. a target network) are not training batches.
        self.store.keep_from(best)

    def _optimized_params(self) -> list[tuple[str, torch.Tensor]]:
        if self.model is None or self.optimizer is None:
            return []
        inner = unwrap_model(self.model)
        in_opt = {id(p) for g in self.optimizer.param_groups for p in g["params"]}
        return [(n, p) for n, p in inner.named_parameters() if id(p) in in_opt and p.requires_grad]

    def finish(self) -> None:
        """After the script stopped: which optimised parameters never changed, which layers no one trains."""
        if self.initial_state is not None and self.model is not None:
            opts = [r.opt for r in self.records if r.opt]
            self.facts.note_end(self.initial_state, self._optimized_params(), unwrap_model(self.model), opts)

    def training_summary(self) -> LoopSummary:
        """What was seen of the user's own loop."""
        return self.facts.summary(
            self.steps,
            self.stops.reason,
            len(self.store.batches),
            self.store.batches_dropped,
            self.schedulers.calls,
        )
