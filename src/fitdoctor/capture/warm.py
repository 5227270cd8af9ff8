"""A warm start for the child process: a *zygote* that imported torch once forks one child per check.

Starting a child costs a Python start and the import of torch (about 2 s on a small machine, and 1.4 s more
for the ``torch._dynamo`` that the first optimizer imports), every time. Where many checks run one after the
other (a test suite, a pre-commit run over many files), a zygote started once with the children's environment
imports all of that, then forks a child for each check. The forked child sets its own session, standard
streams, folder, environment and arguments, and runs exactly what a fresh child runs
(:func:`fitdoctor.capture.child.main`).

The zygote is opt-in: ``FITDOCTOR_WARM_START`` names its socket, and :func:`start_child` uses it only when it
answers and was started the way the child would be (the same interpreter, the same fitdoctor, and the same
values of every variable read when an interpreter or torch starts, such as ``PYTHONHASHSEED`` and
``OMP_NUM_THREADS``); otherwise it starts a fresh child, as without it. A child of the zygote dies with the
check that asked for it (the zygote kills its process group when the check's connection closes), and the
zygote dies with the process that started it (:class:`Zygote`).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Protocol

#: The variable naming the zygote's socket.
ENV = "FITDOCTOR_WARM_START"
#: The folder fitdoctor is imported from: the zygote and the child must import the same one.
SOURCE = str(Path(__file__).resolve().parents[2])
#: How the zygote starts (``python -c ZYGOTE_BOOTSTRAP SOURCE SOCKET``).
ZYGOTE_BOOTSTRAP = "import sys; sys.path[0] = sys.argv[1]; import fitdoctor.capture.warm as w; w.serve(sys.argv[2])"
#: Variables read when an interpreter starts or torch is imported (the interpreter's, the loader's and the
#: allocator's, thread pools', torch's logging): a fork inherits what the zygote read. Not the ones torch and
#: its frameworks read later, after the fork, some of which importing them sets (``TORCHINDUCTOR_CACHE_DIR``,
#: ``PYTORCH_NVML_BASED_CUDA_CHECK``), nor CUDA's and NCCL's (read when CUDA or a process group starts).
_STARTUP_PREFIXES = ("PYTHON", "LD_", "MALLOC", "OMP_", "MKL_", "KMP_", "OPENBLAS_", "TORCH_")
_STARTUP_NAMES = ("PYTORCH_JIT",)


class ChildProcess(Protocol):
    """What the runner uses of a child: a :class:`subprocess.Popen`, or a :class:`WarmChild`."""

    pid: int
    args: Any
    stdout: IO[bytes] | None

    @property
    def returncode(self) -> int | None: ...

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...


def startup_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The variables of ``env`` that an interpreter or torch reads when it starts (a fork can't change them)."""
    return {
        k: v
        for k, v in env.items()
        if k.startswith(_STARTUP_PREFIXES) or k.endswith("_NUM_THREADS") or k in _STARTUP_NAMES
    }


def identity(env: Mapping[str, str]) -> dict[str, Any]:
    """What a child started with ``env`` must share with the zygote that forks it."""
    return {"executable": sys.executable, "source": SOURCE, "startup": startup_environment(env)}


# ------------------------------------------------------------------------------------------ the client side
class WarmChild:
    """A child forked by the zygote, used as the runner uses a :class:`subprocess.Popen`.

    Args:
        conn: The connection its start was asked on; the zygote sends its exit status there.
        pid: Its process id (also its process group's: it starts a session).
        args: What it runs, for error messages.
        stdout: The read end of its output pipe, when the runner pumps it.
    """

    def __init__(self, conn: socket.socket, pid: int, args: Any, stdout: IO[bytes] | None) -> None:
        self._conn = conn
        self._buffer = b""
        self._returncode: int | None = None
        self.pid = pid
        self.args = args
        self.stdout = stdout

    @property
    def returncode(self) -> int | None:
        """Its exit status as :class:`subprocess.Popen` gives it (−N for signal N), None while it runs."""
        return self._returncode

    def poll(self) -> int | None:
        """Its exit status, None while it runs."""
        if self._returncode is None:
            self._read(0.0)
        return self._returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for it to end; raises :class:`subprocess.TimeoutExpired` past ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._returncode is None:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
            self._read(left)
        return self._returncode

    def _read(self, timeout: float | None) -> None:
        ready, _, _ = select.select([self._conn], [], [], timeout)
        if not ready:
            return
        chunk = self._conn.recv(4096)
        if not chunk:  # the zygote is gone, and took its child with it
            self._end(-signal.SIGKILL)
            return
        self._buffer += chunk
        while b"\n" in self._buffer:
            line, self._buffer = self._buffer.split(b"\n", 1)
            message = json.loads(line)
            if "exit" in message:
                self._end(int(message["exit"]))

    def _end(self, code: int) -> None:
        self._returncode = code
        self._conn.close()


def start_child(argv: list[str], env: dict[str, str], stdout: int | None) -> ChildProcess:
    """Start ``python -c BOOTSTRAP *argv`` (``argv[0]`` the source folder, then the job file) with ``env``,
    standard input from ``/dev/null`` and standard error into standard output: forked by the zygote that
    ``FITDOCTOR_WARM_START`` names when it can, else a fresh process.

    Args:
        argv: The bootstrap code and its arguments (``[BOOTSTRAP, source, job]``).
        env: The child's environment.
        stdout: Where its output goes: a file descriptor, :data:`subprocess.DEVNULL`, or None for a pipe
            the caller reads (``child.stdout``).
    """
    path = os.environ.get(ENV)
    if path and argv[1:2] == [SOURCE]:
        warm = _warm_start(path, argv, env, stdout)
        if warm is not None:
            return warm
    return subprocess.Popen(
        [sys.executable, "-c", *argv],
        stdin=subprocess.DEVNULL,
        stdout=stdout if stdout is not None else subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=env,
    )


def _warm_start(path: str, argv: list[str], env: dict[str, str], stdout: int | None) -> WarmChild | None:
    """The child forked by the zygote at ``path``; None when it doesn't answer or was started differently."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    reader: IO[bytes] | None = None
    opened: list[int] = []
    try:
        conn.settimeout(30.0)
        conn.connect(path)
        devnull = os.open(os.devnull, os.O_RDWR)
        opened.append(devnull)
        if stdout is None:
            read_end, write_end = os.pipe()
            opened.append(write_end)
            reader = os.fdopen(read_end, "rb", buffering=0)
            out = write_end
        else:
            out = devnull if stdout == subprocess.DEVNULL else stdout
        request = {"argv": argv[1:], "cwd": os.getcwd(), "env": env, "identity": identity(env)}
        socket.send_fds(conn, [json.dumps(request).encode() + b"\n"], [devnull, out, out])
        answer = b""
        while not answer.endswith(b"\n"):
            chunk = conn.recv(4096)
            if not chunk:
                raise OSError("the zygote closed the connection")
            answer += chunk
        message = json.loads(answer)
        if "pid" not in message:
            raise OSError(str(message.get("refused", "refused")))
        conn.settimeout(None)
        return WarmChild(conn, int(message["pid"]), [sys.executable, "-c", *argv], reader)
    except (OSError, ValueError):
        conn.close()
        if reader is not None:
            reader.close()
        return None
    finally:
        for fd in opened:
            os.close(fd)


# ------------------------------------------------------------------------------------------ the zygote
def serve(path: str) -> None:
    """The zygote's main loop: import what every child imports, then fork a child per request on the Unix
    socket ``path``, tell each client its child's pid and, when it ends, its exit status."""
    mine = identity(os.environ)
    before = dict(os.environ)
    # What every child imports (torch), and what the first optimizer imports (torch._dynamo).
    import torch._dynamo
    import torch.optim  # noqa: F401

    from fitdoctor.capture import child

    # what these imports set in the environment (TORCHINDUCTOR_CACHE_DIR): every child gets it too
    imported = {k: v for k, v in os.environ.items() if k not in before}
    child._die_with_parent()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    # A child's end wakes the loop at once (SIGCHLD writes to `woken`), so its check hears of it without delay.
    woken, wake = socket.socketpair()
    wake.setblocking(False)
    signal.set_wakeup_fd(wake.fileno())
    signal.signal(signal.SIGCHLD, lambda *_: None)
    clients: dict[int, socket.socket] = {}  # child pid -> the connection that asked for it
    while True:
        ready, _, _ = select.select([listener, woken, *clients.values()], [], [], 1.0)
        for sock in ready:
            if sock is woken:
                woken.recv(4096)
            elif sock is listener:
                try:
                    _accept(listener, mine, imported, clients, [woken, wake])
                except OSError:  # the check went away while asking: nothing was started for it
                    continue
            else:
                pid = next(p for p, c in clients.items() if c is sock)
                try:
                    gone = not sock.recv(4096)
                except OSError:
                    gone = True
                if gone:  # the check that asked for it is gone: so is its child
                    _kill(pid)
        _reap(clients)


def _accept(
    listener: socket.socket,
    mine: dict[str, Any],
    imported: dict[str, str],
    clients: dict[int, socket.socket],
    own: list[socket.socket],
) -> None:
    conn, _ = listener.accept()
    conn.settimeout(30.0)
    try:
        data, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
        while not data.endswith(b"\n"):
            more = conn.recv(1 << 20)
            if not more:
                raise OSError("incomplete request")
            data += more
        request = json.loads(data)
    except (OSError, ValueError):
        conn.close()
        return
    if request.get("identity") != mine or len(fds) != 3:
        conn.sendall(json.dumps({"refused": "started differently"}).encode() + b"\n")
        conn.close()
        for fd in fds:
            os.close(fd)
        return
    pid = os.fork()
    if pid == 0:
        sockets = [listener, conn, *own, *clients.values()]
        _become_child({**request, "env": {**imported, **request["env"]}}, fds, sockets)
    for fd in fds:
        os.close(fd)
    conn.settimeout(None)
    try:
        conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
    except OSError:  # the check went away meanwhile: its child goes too
        _kill(pid)
        conn.close()
        raise
    clients[pid] = conn


def _become_child(request: dict[str, Any], fds: list[int], sockets: list[socket.socket]) -> None:
    """In the forked process: become the child a fresh ``python -c BOOTSTRAP`` would have been (its own
    session, the check's standard streams, folder, environment and arguments; none of the zygote's sockets)."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the script's own subprocesses are its business
        os.setsid()
        for sock in sockets:
            sock.close()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        for fd in set(fds) - {0, 1, 2}:
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = list(request["argv"])
        from fitdoctor.capture import child

        child._LOADED = time.perf_counter()  # the start-up phase begins now, as in a fresh child
        child.main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        os._exit(code)


def _kill(pid: int) -> None:
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)


def _reap(clients: dict[int, socket.socket]) -> None:
    while clients:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = clients.pop(pid, None)
        if conn is None:
            continue
        with contextlib.suppress(OSError):
            conn.sendall(json.dumps({"exit": os.waitstatus_to_exitcode(status)}).encode() + b"\n")
        conn.close()


class Zygote:
    """A zygote for the checks started while it runs (a context manager): it sets ``FITDOCTOR_WARM_START``
    for them, and stops the zygote and removes its socket afterwards.

    Args:
        env: The environment the checks' children get (the runner's: ``MPLBACKEND``, ``PYTHONUNBUFFERED``,
            ``PYTHONDONTWRITEBYTECODE``, ``PYTHONHASHSEED`` set as it sets them).
        timeout: Seconds to wait for the zygote to listen.
    """

    def __init__(self, env: Mapping[str, str], timeout: float = 120.0) -> None:
        self.env = dict(env)
        self.timeout = timeout
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._previous: str | None = None

    @property
    def pid(self) -> int | None:
        """The zygote's process id (None before it starts)."""
        return self._proc.pid if self._proc is not None else None

    def __enter__(self) -> Zygote:
        self._folder = tempfile.TemporaryDirectory(prefix="fitdoctor-zygote-")
        path = os.path.join(self._folder.name, "socket")
        self._proc = subprocess.Popen(
            [sys.executable, "-c", ZYGOTE_BOOTSTRAP, SOURCE, path],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
            env=self.env,
        )
        deadline = time.monotonic() + self.timeout
        while not os.path.exists(path) and self._proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        self._previous = os.environ.get(ENV)
        if os.path.exists(path):
            os.environ[ENV] = path
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._previous is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = self._previous
        if self._proc is not None:
            _kill(self._proc.pid)
            self._proc.wait()
        if self._folder is not None:
            self._folder.cleanup()
