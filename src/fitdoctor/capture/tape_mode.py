"""The torch-function mode that shows the recorder every torch operation outside a model's forward (the
loss the script writes by hand), and the switch that takes it off a thread's mode stack while a model
forward or an optimizer step runs."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import torch
from torch.overrides import TorchFunctionMode

#: Called after each operation with the function, its arguments and its output.
OnOperation = Callable[[Any, tuple[Any, ...], dict[str, Any], Any], None]


class _TapeMode(TorchFunctionMode):
    def __init__(self, on_operation: OnOperation) -> None:
        super().__init__()
        self.on_operation = on_operation

    def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        self.on_operation(func, args, kwargs, out)
        return out


class TapeSwitch:
    """Enters, suspends, resumes and leaves the tape mode.

    Args:
        on_operation: What each operation seen by the mode is handed to.
    """

    def __init__(self, on_operation: OnOperation) -> None:
        self._on_operation = on_operation
        self._mode: _TapeMode | None = None
        self._tls = threading.local()

    def enter(self) -> None:
        """Push the mode on this thread's mode stack."""
        mode = _TapeMode(self._on_operation)
        mode.__enter__()
        self._mode = mode

    def exit(self) -> None:
        """Pop the mode. A mode the script left buried under one of its own can't be popped; it is made
        inert instead (a later :meth:`resume` no longer pushes it)."""
        mode, self._mode = self._mode, None
        if mode is None or getattr(self._tls, "suspended", False):
            self._tls.suspended = False
            return
        stack = torch.overrides._get_current_function_mode_stack()
        if stack and stack[-1] is mode:
            mode.__exit__(None, None, None)

    def suspend(self) -> None:
        """Take the mode off this thread's stack while a model forward or an optimizer step runs: nothing
        there belongs on the tape, and every torch call through a Python mode costs microseconds (an
        optimizer's per-parameter arithmetic, a tiny model's layers)."""
        mode = self._mode
        if mode is None or getattr(self._tls, "suspended", False):
            return
        stack = torch.overrides._get_current_function_mode_stack()
        if stack and stack[-1] is mode:
            torch._C._pop_torch_function_stack()
            self._tls.suspended = True

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Off this thread's stack for the block (fitdoctor's own bookkeeping: its ``.grad`` reads, clones
        and sums don't belong on the tape, and each one through a Python mode costs microseconds); back on
        afterwards only if the block found it on top and took it off."""
        mode = self._mode
        if mode is None or getattr(self._tls, "suspended", False):
            yield
            return
        stack = torch.overrides._get_current_function_mode_stack()
        if not stack or stack[-1] is not mode:
            yield
            return
        torch._C._pop_torch_function_stack()
        self._tls.suspended = True
        try:
            yield
        finally:
            if getattr(self._tls, "suspended", False) and self._mode is mode:
                torch._C._push_on_torch_function_stack(mode)
            self._tls.suspended = False

    def untaped(self, original: Callable[..., Any]) -> Callable[..., Any]:
        """``original`` (a ``DataLoader`` iterator's ``__next__``) run with the mode off the stack: it indexes its
        dataset once per sample and stacks the samples, none of which belongs on the loss tape (the batch is a
        constant of the step), and each of those torch calls through a Python mode costs microseconds."""

        @functools.wraps(original)
        def next_batch(iterator: Any) -> Any:
            with self.paused():
                return original(iterator)

        return next_batch

    def resume(self) -> None:
        """Put a suspended mode back on this thread's stack."""
        if getattr(self._tls, "suspended", False) and self._mode is not None:
            torch._C._push_on_torch_function_stack(self._mode)
        self._tls.suspended = False


_Method = TypeVar("_Method", bound=Callable[..., Any])


def bookkeeping(method: _Method) -> _Method:
    """A method of an object with a ``_switch`` :class:`TapeSwitch` that is fitdoctor's own bookkeeping:
    it runs with the tape mode off the stack (see :meth:`TapeSwitch.paused`)."""

    @functools.wraps(method)
    def paused(self: Any, *args: Any, **kwargs: Any) -> Any:
        with self._switch.paused():
            return method(self, *args, **kwargs)

    return paused  # type: ignore[return-value]


def untape_data_loaders(switch: TapeSwitch) -> Callable[[], None]:
    """Make every ``DataLoader`` iterator (single- and multi-process alike: they share ``__next__``) draw its
    batches with ``switch``'s mode off the stack (see :meth:`TapeSwitch.untaped`); returns the undo. A torch
    without that class where it always was is left alone."""
    cls, name = getattr(torch.utils.data.dataloader, "_BaseDataLoaderIter", None), "__next__"
    if not isinstance(cls, type) or name not in cls.__dict__:
        return lambda: None
    original = cls.__dict__[name]
    setattr(cls, name, switch.untaped(original))
    return lambda: setattr(cls, name, original)
