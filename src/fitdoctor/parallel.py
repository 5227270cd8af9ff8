"""Independent analysis runs on every core: forked workers, one torch thread each.

The replays of the proposed fixes are independent trainings of a small model on one thread (see
``analysis.single_thread``), so a machine with k cores can run k of them at once. Workers are forked from the
analysis process after the capture: they share the captured batches and the initial weights copy-on-write,
compute their share of the tasks, send each result back pickled through a pipe, and end with ``os._exit``
(no atexit handler or user thread of the script runs in them). They are in the check's process group, so the
CLI's hard limit ends them with the rest.

The parent computes its own share meanwhile, so a machine with one core, a model that trains on several threads,
a CUDA process (which can't be forked), or a result that can't be pickled, all run every task in the parent,
as before. A worker that fails or dies leaves its unreported tasks to the parent; a task that raised is rerun
in the parent, so the user sees the error as it would have been without workers. Results are the same either
way: every task seeds its own run.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import torch

T = TypeVar("T")
R = TypeVar("R")

#: Most worker processes, whatever the core count: each holds a copy of what it writes to (the model, the
#: optimizer state), and more than four fix replays are rare.
MAX_WORKERS = 4
#: Seconds a worker may take past the deadline before it is killed and its tasks left undone.
GRACE_S = 5.0


@dataclass(frozen=True)
class Skipped:
    """A task that was not run: it would have started after the deadline."""


@dataclass(frozen=True)
class Outcome(Generic[R]):
    """A task's result, or why there is none.

    Attributes:
        value: The task's result (None when it was skipped).
        skipped: The task would have started after the deadline.
        worker: Whether a forked worker computed it (False: the calling process did).
    """

    value: R | None
    skipped: bool = False
    worker: bool = False


def cores() -> int:
    """Cores this process may run on (its CPU affinity, or the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def can_fork() -> bool:
    """Whether tasks may go to forked workers here: POSIX fork, more than one core, one torch thread (a model
    that trains on several threads already uses the cores), no CUDA context (a forked child can't use it) and
    no torch.distributed process group.
    ``FITDOCTOR_WORKERS=1`` in the environment turns workers off."""
    if os.environ.get("FITDOCTOR_WORKERS", "").strip() == "1":
        return False
    if not hasattr(os, "fork") or sys.platform == "win32":
        return False
    if torch.get_num_threads() != 1 or cores() < 2:
        return False
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return False  # a process group's threads and sockets don't survive a fork
    return not (torch.cuda.is_available() and torch.cuda.is_initialized())


def run_all(
    tasks: Sequence[T],
    run: Callable[[T], R],
    *,
    deadline: float = float("inf"),
    pack: Callable[[R], Any] | None = None,
    unpack: Callable[[T, Any], R] | None = None,
    workers: int | None = None,
) -> list[Outcome[R]]:
    """Run ``run(task)`` for every task, on forked workers where :func:`can_fork` allows, in the caller
    otherwise; the outcomes come back in the tasks' order.

    Args:
        tasks: The tasks.
        run: Computes one task's result.
        deadline: A ``time.perf_counter()`` value: a task that would start after it is skipped.
        pack: Turns a worker's result into what is pickled back (default: the result itself).
        unpack: Rebuilds a result in the caller from the task and what ``pack`` made.
        workers: Forked workers besides the caller (default: one fewer than the cores, at most
            ``MAX_WORKERS``; 0: no worker).
    """
    n = len(tasks)
    extra = min(MAX_WORKERS, cores() - 1, n - 1) if workers is None else min(workers, n - 1)
    if extra < 1 or not can_fork():
        return [_local(run, t, deadline) for t in tasks]
    # Task i goes to slot i % (extra + 1); slot 0 is the caller. Long tasks first would balance better, but the
    # fix replays all train the same number of steps.
    slots = extra + 1
    outcomes: dict[int, Outcome[R]] = {}
    children: list[tuple[int, int]] = []  # (pid, read fd)
    forked: set[int] = set()
    for k in range(1, slots):
        mine = [i for i in range(n) if i % slots == k]
        child = _fork(mine, tasks, run, deadline, pack)
        if child is not None:  # a failed fork leaves its tasks to the caller
            children.append(child)
            forked.update(mine)
    received: dict[int, tuple[str, Any]] = {}
    finished: set[int] = set()
    try:
        for i in range(n):
            if i not in forked:
                outcomes[i] = _local(run, tasks[i], deadline)
        # The caller's share is done: the workers' results come back (the caller waits for the slowest).
        received, finished = _collect(children, deadline + GRACE_S)
    finally:
        _reap(children, finished)
    for i, (status, payload) in received.items():
        if status == "ok":
            try:
                value = unpack(tasks[i], payload) if unpack is not None else payload
            except Exception:  # can't rebuild it here: run it here instead
                continue
            outcomes[i] = Outcome(value, worker=True)
        elif status == "skipped":
            outcomes[i] = Outcome(None, skipped=True, worker=True)
    for i in range(n):  # the tasks no worker answered: a task that raised, a worker that died
        if i not in outcomes:
            outcomes[i] = _local(run, tasks[i], deadline)
    return [outcomes[i] for i in range(n)]


def _local(run: Callable[[T], R], task: T, deadline: float) -> Outcome[R]:
    """Run a task in the caller, on a forked RNG: the caller's random state after :func:`run_all` is the same
    whether its tasks ran here or in workers."""
    if time.perf_counter() > deadline:
        return Outcome(None, skipped=True)
    with torch.random.fork_rng(devices=[]):
        return Outcome(run(task))


def _fork(
    mine: list[int], tasks: Sequence[T], run: Callable[[T], R], deadline: float, pack: Callable[[R], Any] | None
) -> tuple[int, int] | None:
    """Start a worker for the tasks ``mine``: its pid and the read end of its pipe (None when fork fails)."""
    read, write = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        pid = os.fork()
    except OSError:
        os.close(read)
        os.close(write)
        return None
    if pid == 0:  # the worker: compute, send, and end without any teardown
        code = 0
        try:
            os.close(read)
            _end_with_parent()
            with os.fdopen(write, "wb") as out:
                for i in mine:
                    if time.perf_counter() > deadline:
                        record: tuple[int, str, Any] = (i, "skipped", None)
                    else:
                        try:
                            result = run(tasks[i])
                            record = (i, "ok", pack(result) if pack is not None else result)
                        except BaseException:  # the caller reruns it and meets the error itself
                            record = (i, "failed", None)
                    try:
                        data = pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)
                    except Exception:
                        data = pickle.dumps((i, "failed", None))
                    out.write(len(data).to_bytes(8, "little") + data)
                    out.flush()
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(write)
    return pid, read


def _end_with_parent() -> None:
    """Linux: the kernel kills this worker when the process that forked it dies (even by SIGKILL)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _collect(children: list[tuple[int, int]], until: float) -> tuple[dict[int, tuple[str, Any]], set[int]]:
    """Read the workers' records until every pipe is closed or ``until`` passes: the records by task, and the
    pids of the workers that closed their pipe (they are ending)."""
    buffers = {fd: bytearray() for _, fd in children}
    received: dict[int, tuple[str, Any]] = {}
    open_fds = set(buffers)
    while open_fds:
        wait = until - time.perf_counter()
        if wait <= 0:
            break
        ready, _, _ = select.select(list(open_fds), [], [], min(wait, 1.0))
        for fd in ready:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                open_fds.discard(fd)
                continue
            buf = buffers[fd]
            buf.extend(chunk)
            while len(buf) >= 8:
                size = int.from_bytes(buf[:8], "little")
                if len(buf) < 8 + size:
                    break
                try:
                    i, status, payload = pickle.loads(bytes(buf[8 : 8 + size]))
                    received[i] = (status, payload)
                except Exception:
                    pass  # unreadable: the caller runs that task itself
                del buf[: 8 + size]
    finished = {pid for pid, fd in children if fd not in open_fds}
    return received, finished


def _reap(children: list[tuple[int, int]], finished: set[int]) -> None:
    """Wait for every worker (none outlives the call): those that closed their pipe are ending; the others
    (past the deadline's grace, or an error here) are killed. Then close the pipes."""
    for pid, fd in children:
        try:
            if pid not in finished:
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ChildProcessError, ProcessLookupError):
            pass
        with contextlib.suppress(OSError):
            os.close(fd)
