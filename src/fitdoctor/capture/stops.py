"""How the capture ends the user's script: :class:`StopCapture` raised from a hook, :class:`StopControl`
which decides when and remembers why, and :func:`guarded_hook`, which makes a failure of fitdoctor's own
hooks a reported limitation instead of an exception in the user's script."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, NoReturn, TypeVar

import torch

from fitdoctor.capture.records import exotic

#: After the script swallowed this many stops (a bare ``except:`` around its training), the check ends it
#: from inside the hook (see :attr:`StopControl.on_swallowed`).
SWALLOWED_STOPS = 20


class StopCapture(BaseException):
    """Raised from a hook to stop the user's script; a ``BaseException`` so ``except Exception`` can't
    swallow it."""


class StopControl:
    """Whether the capture has stopped, why, and whether what it saw can be analysed.

    Args:
        passive: At a stop, stop recording instead of stopping the script (``fitdoctor.watch``).

    Attributes:
        stopped: The capture has ended.
        reason: Why (a budget reached, a new training stage, a failure).
        failure: Why the capture can't be analysed (an unsupported kind of tensor, a failure of our hooks).
        on_swallowed: Called once when the script keeps training after swallowing :data:`SWALLOWED_STOPS`.
    """

    def __init__(self, passive: bool) -> None:
        self.passive = passive
        self.stopped = False
        self.reason = ""
        self.failure: str | None = None
        self.on_swallowed: Callable[[], None] | None = None
        self._raises = 0

    def stop(self, reason: str) -> None:
        """End the capture; stop the script unless passive."""
        self.stopped = True
        self.reason = reason
        if not self.passive:
            self.raise_stop()

    def raise_stop(self) -> NoReturn:
        """Stop the script; once it has swallowed too many stops, hand over to :attr:`on_swallowed`."""
        self._raises += 1
        if self._raises > SWALLOWED_STOPS and self.on_swallowed is not None:
            callback, self.on_swallowed = self.on_swallowed, None
            callback()
        raise StopCapture(self.reason)

    def fail(self, reason: str) -> None:
        """End the capture: what the script trains can't be analysed (``reason`` says why)."""
        if self.failure is None:
            self.failure = reason
        self.stop(reason)

    def refuse_exotic(self, tensors: Iterable[Any], what: str) -> None:
        """End the capture when one of ``tensors`` is of a kind fitdoctor can't measure."""
        for t in tensors:
            kind = exotic(t) if isinstance(t, torch.Tensor) else None
            if kind is not None:
                self.fail(f"the training's {what} are {kind}, which fitdoctor's probes and replays can't measure yet")


_Hook = TypeVar("_Hook", bound=Callable[..., Any])


def guarded_hook(method: _Hook) -> _Hook:
    """A method of an object with a ``stops`` :class:`StopControl` whose body is fitdoctor's own
    bookkeeping: an error in it is ours, never the script's. It ends the capture with
    :attr:`StopControl.failure` set (reported as unsupported), instead of surfacing in the script as an
    exception the script did not raise."""

    @functools.wraps(method)
    def guarded(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except StopCapture:
            raise
        except Exception as exc:
            detail = (str(exc).strip().splitlines() or [""])[0][:200]
            self.stops.fail(f"fitdoctor's capture could not follow this training ({type(exc).__name__}: {detail})")
            return None

    return guarded  # type: ignore[return-value]
