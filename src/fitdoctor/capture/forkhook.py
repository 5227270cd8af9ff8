"""One process-wide fork hook for the recorder: a forked DataLoader worker must not record anything."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fitdoctor.capture.recorder import Recorder


class ForkHook:
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


fork_hook = ForkHook()
