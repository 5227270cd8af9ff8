"""Learning-rate schedulers the script steps: how often, and from which of the user's lines.

A scheduler only rewrites its optimizer's ``lr``; the weights change in ``optimizer.step()``. The watch wraps
``step`` of every scheduler class of ``torch.optim.lr_scheduler`` that defines its own (the base class and the
few that override it, such as ``ReduceLROnPlateau``): the wrapper counts the call and calls the original with
the same arguments, so what the script computes does not change. A scheduler that steps others (``SequentialLR``,
``ChainedScheduler``) counts once.
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import torch
from torch.optim import lr_scheduler

from fitdoctor.capture.records import warnings_at_caller
from fitdoctor.capture.userframes import Site, UserFiles


def group_lrs(optimizer: Any) -> tuple[float, ...]:
    """The learning rate of each of ``optimizer``'s param groups now (NaN where it isn't a number)."""
    lrs = []
    for group in optimizer.param_groups:
        value = group.get("lr")
        if isinstance(value, torch.Tensor) and value.numel() == 1 and value.device.type == "cpu":
            value = float(value)
        lrs.append(float(value) if isinstance(value, (int, float)) else math.nan)
    return tuple(lrs)


def _constructing(scheduler: Any, caller: FrameType | None) -> bool:
    """Whether ``caller`` is ``scheduler``'s own constructor (which takes the first step itself)."""
    while caller is not None and caller.f_code.co_name in ("__init__", "_initial_step"):
        if caller.f_locals.get("self") is scheduler:
            return True
        caller = caller.f_back
    return False


def scheduler_classes() -> list[type]:
    """The scheduler classes of ``torch.optim.lr_scheduler`` that define ``step`` themselves."""
    found: list[type] = []
    for value in vars(lr_scheduler).values():
        own = isinstance(value, type) and value.__module__ == lr_scheduler.__name__ and "step" in value.__dict__
        if own and callable(value.__dict__["step"]) and hasattr(value, "get_last_lr"):
            found.append(value)
    return found


@dataclass
class SchedulerWatch:
    """Counts the script's ``scheduler.step()`` calls.

    Attributes:
        calls: Outermost ``step()`` calls of any scheduler.
        site: The user's line of the first such call.
        names: Class names of the schedulers stepped, in order of first call.
    """

    user_files: UserFiles
    active: Callable[[], bool]
    calls: int = 0
    site: Site | None = None
    names: list[str] = field(default_factory=list)
    shown: set[tuple[Any, ...]] = field(default_factory=set)
    _depth: int = 0

    def reset(self) -> None:
        """Forget what was counted (a new training stage begins)."""
        self.calls, self.site, self.names = 0, None, []

    def wrap(self, original: Callable[..., Any]) -> Callable[..., Any]:
        """``original`` (a scheduler class's ``step``), counted when the script calls it."""
        watch = self

        @functools.wraps(original)
        def step(scheduler: Any, *args: Any, **kwargs: Any) -> Any:
            counted = watch._depth == 0 and not _constructing(scheduler, sys._getframe(1)) and watch.active()
            watch._depth += 1
            try:
                # A warning the scheduler raises (stepped before its optimizer, say) shows at the script's line.
                return warnings_at_caller(original, (scheduler, *args), kwargs, watch.shown, watch.user_files.original)
            finally:
                watch._depth -= 1
                if counted:
                    watch.note(scheduler)

        return step

    def note(self, scheduler: Any) -> None:
        """One ``step()`` of ``scheduler`` by the script."""
        self.calls += 1
        name = type(scheduler).__name__
        if name not in self.names:
            self.names.append(name)
        if self.site is None:
            self.site = self.user_files.innermost()
