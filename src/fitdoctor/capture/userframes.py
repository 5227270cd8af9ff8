"""Telling the user's own code apart from library code, for line numbers and tracebacks."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType, TracebackType

_LIBRARY_MARKERS = ("site-packages", "dist-packages", f"{os.sep}lib{os.sep}python")


def real_path(filename: str) -> str:
    """The resolved path of a source file; pseudo-files such as ``<stdin>`` stay as they are."""
    return filename if filename.startswith("<") else os.path.realpath(filename)


@dataclass(frozen=True)
class Site:
    """A place in the user's code: file, line and the function it is in."""

    path: str
    line: int
    function: str


class UserFiles:
    """Decides which source files belong to the user: those under the script's folder.

    Args:
        script: Path of the user's script; None for code run through the Python API (a notebook, a test):
            then every file outside the standard library and installed packages is the user's.
        root: The folder of the user's code (default: the script's folder); a module run with ``-m`` has
            the folder it is imported from.
        original: Maps a path the script runs from (a scratch copy) to the user's original path, for what
            is shown to the user.
    """

    def __init__(
        self, script: str | None, root: str | None = None, original: Callable[[str], str] | None = None
    ) -> None:
        self.script = os.path.realpath(script) if script else None
        folder = os.path.realpath(root) if root else (os.path.dirname(self.script) if self.script else None)
        self.root = folder.rstrip(os.sep) + os.sep if folder else None
        self.original: Callable[[str], str] = original or (lambda path: path)
        self._stdlib = os.path.dirname(os.__file__) + os.sep
        self._own = os.path.dirname(os.path.realpath(__file__)).rsplit(os.sep, 1)[0] + os.sep
        self._cache: dict[str, bool] = {}
        self._real: dict[str, str] = {}  # realpath() is a syscall per path component: once per file

    def is_user(self, filename: str) -> bool:
        """Whether `filename` is one of the user's source files."""
        known = self._cache.get(filename)
        if known is not None:
            return known
        real = os.path.realpath(filename) if not filename.startswith("<") else filename
        if self.root is None:
            mine = not real.startswith(("<frozen", self._own, self._stdlib)) and not any(
                marker in real for marker in _LIBRARY_MARKERS
            )
        else:
            mine = (
                real.startswith(self.root)
                and not real.startswith(self._own)
                and not any(marker in real[len(self.root) :] for marker in _LIBRARY_MARKERS)
            )
        self._cache[filename] = mine
        return mine

    def sites(self, frame: FrameType | None = None, limit: int = 6) -> list[Site]:
        """The user frames on the current stack, innermost first.

        Args:
            frame: The frame to start from (default: the caller's caller).
            limit: At most this many sites are returned.
        """
        f: FrameType | None = frame if frame is not None else sys._getframe(2)
        out: list[Site] = []
        while f is not None and len(out) < limit:
            code = f.f_code
            if self.is_user(code.co_filename):
                out.append(Site(self._resolved(code.co_filename), f.f_lineno, code.co_name))
            f = f.f_back
        return out

    def _resolved(self, filename: str) -> str:
        real = self._real.get(filename)
        if real is None:
            real = self._real[filename] = real_path(filename)
        return real

    def innermost(self, frame: FrameType | None = None) -> Site | None:
        """The innermost user frame on the stack, if any."""
        found = self.sites(frame if frame is not None else sys._getframe(2), limit=1)
        return found[0] if found else None

    def raising_site(self, exc: BaseException) -> Site | None:
        """The innermost of the user's frames in the exception's traceback (where the user's code failed)."""
        found = None
        for frame, lineno in traceback.walk_tb(exc.__traceback__):
            if self.is_user(frame.f_code.co_filename):
                found = Site(real_path(frame.f_code.co_filename), lineno, frame.f_code.co_name)
        return found

    def format_traceback(self, exc: BaseException) -> str:
        """The exception's traceback with only the user's frames, as Python prints it."""
        tb: TracebackType | None = exc.__traceback__
        frames = [(frame, lineno) for frame, lineno in traceback.walk_tb(tb) if self.is_user(frame.f_code.co_filename)]
        summary = traceback.StackSummary.extract(iter(frames))
        for frame in summary:
            frame.filename = self.original(frame.filename)
        lines = ["Traceback (most recent call last):\n", *summary.format()]
        lines.extend(traceback.format_exception_only(type(exc), exc))
        return "".join(lines)
