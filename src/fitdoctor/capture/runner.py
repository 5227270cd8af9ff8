"""The parent side: start the child process, enforce the time budget, read the result back."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from fitdoctor.capture.budget import CAPTURE_TARGET_S
from fitdoctor.capture.scratch import build_mirror
from fitdoctor.capture.warm import SOURCE, ChildProcess, start_child
from fitdoctor.errors import CaptureError, FitdoctorError, Interrupted, UsageError
from fitdoctor.findings import FileWrite, Report
from fitdoctor.selection import RuleSelection

#: Seconds the analysis (probes and replays) may take after the capture's time budget.
ANALYSIS_BUDGET = 240.0
#: Seconds past the time budget before a script still in its capture phase is stopped from outside (a
#: hang in pure Python, or a loop that never reaches a hook, can't be stopped from inside).
CAPTURE_GRACE = 15.0
CAPTURE_PHASE = "running "
#: Seconds between SIGTERM and SIGKILL of the child's process group.
KILL_GRACE = 2.0

#: How the child starts: the caller's working directory, which ``python -c`` puts first on ``sys.path``,
#: is replaced by the folder this fitdoctor is imported from (a ``selectors.py`` where the user runs
#: fitdoctor must not be imported, and no ``PYTHONPATH`` is set that the script's own subprocesses would
#: inherit).
CHILD_BOOTSTRAP = (
    "import sys; sys.path[0] = sys.argv[1]; sys.argv = sys.argv[1:]; "
    "import fitdoctor.capture.child as child; child.main()"
)


class TextSink(Protocol):
    """Where the script's output goes: a text file (whose descriptor the script then writes to directly), or
    any object with ``write`` (the output is then pumped to it)."""

    def write(self, text: str, /) -> int: ...


@dataclass
class CheckOptions:
    """Options of one ``fitdoctor check`` run.

    Attributes:
        steps: Stop the script after this many optimizer steps.
        time_budget: Stop the script after this many seconds.
        capture_target_s: Stop the script once its steps took this many CPU seconds, at a multiple of
            :data:`~fitdoctor.capture.budget.MIN_CAPTURE_STEPS` steps (None: only ``steps`` and ``time_budget``
            stop it; the CLI's choice when the user gives ``--steps``).
        replay_steps: Steps per replay (0: twice the captured steps, at least 200).
        planned: Plan the analysis from the time the captured steps took, scaled down for large models
            (``fitdoctor.effort``). False: the full analysis, whatever it takes within the hard time limit, so
            that it measures the same on a busy machine as on an idle one (the CLI's choice when the user gives
            ``--replay-steps``).
        seed: Seed of the script and of every replay.
        args: Arguments passed to the script.
        rules: Rule selection and threshold overrides.
        quiet: Drop the script's own output.
        stage: Which training stage to check (1: the first).
        cwd: The folder the script runs in (default: the script's folder; for ``module``, the folder
            fitdoctor runs in, as ``python -m`` does).
        module: Run this module as ``python -m`` would, instead of a script path.
        in_place: Run in the user's folders themselves rather than in a scratch copy.
        sources: Files whose scratch copies get these contents instead (path -> text): a patched script
            re-checked without touching the user's files. Never with ``in_place``.
        nproc_per_node: Processes to launch the script in, as ``torchrun --nproc-per-node`` does (the
            ``RANK``/``WORLD_SIZE``/``MASTER_ADDR`` environment of ``torch.distributed``); rank 0 is checked.
    """

    steps: int = 200
    time_budget: float = 30.0
    capture_target_s: float | None = CAPTURE_TARGET_S
    replay_steps: int = 0
    planned: bool = True
    seed: int = 0
    args: list[str] = field(default_factory=list)
    rules: RuleSelection = field(default_factory=RuleSelection)
    quiet: bool = False
    stage: int = 1
    cwd: str | None = None
    module: str | None = None
    in_place: bool = False
    sources: dict[str, str] = field(default_factory=dict)
    nproc_per_node: int = 1


@dataclass(frozen=True)
class Target:
    """What runs, and where.

    Attributes:
        path: The file that runs (the script, or the module's file).
        display: How the report names it (the path as given; a module's file relative to the working folder).
        run_dir: The working directory the script runs in.
        code_root: The folder put first on ``sys.path`` (the script's folder; for a module, ``run_dir``).
        module: The module name for ``-m``, else None.
    """

    path: Path
    display: str
    run_dir: str
    code_root: str
    module: str | None = None


def child_environment(base: Mapping[str, str], seed: int) -> dict[str, str]:
    """The child's environment: ``base`` (the check's own) with what the check sets for the script."""
    env = dict(base)
    env["MPLBACKEND"] = "Agg"
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # no __pycache__ beside the user's modules
    env.setdefault("PYTHONHASHSEED", str(seed))
    return env


def _run_dir(cwd: str | None, default: str) -> str:
    if cwd is None:
        return default
    p = Path(cwd)
    if not p.is_dir():
        raise UsageError(f"--cwd {cwd}: no such folder. Give the folder the script should run in.")
    return str(p.resolve())


def resolve_target(script: str | None, options: CheckOptions) -> Target:
    """Where the script (or ``-m`` module) is and where it runs, or a clear :class:`UsageError`."""
    if options.module is not None:
        if script is not None:
            raise UsageError("give either a script or -m MODULE, not both (like python).")
        name = options.module
        parts = name.split(".")
        if not name or not all(part.isidentifier() for part in parts):
            raise UsageError(f"-m {name!r} is not a module name (e.g. -m package.train).")
        run_dir = _run_dir(options.cwd, os.getcwd())
        base = Path(run_dir, *parts)
        candidates = [base.with_suffix(".py"), base / "__main__.py"]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise UsageError(
                f"-m {name}: no {candidates[0].relative_to(run_dir)} or {candidates[1].relative_to(run_dir)} in "
                f"{run_dir}. fitdoctor looks for the module as `python -m` does, from the folder it runs in "
                "(pass --cwd to look elsewhere)."
            )
        path = validate_script(str(found))
        rel = os.path.relpath(path, os.getcwd())
        return Target(path, rel if not rel.startswith("..") else str(path), run_dir, run_dir, name)
    if script is None:
        raise UsageError("give the training script to check, or -m MODULE to run a module as `python -m` does.")
    path = validate_script(script)
    return Target(path, script, _run_dir(options.cwd, str(path.parent)), str(path.parent))


def validate_script(path: str) -> Path:
    """The script's absolute path, or a clear :class:`UsageError`."""
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{path}: no such file. Give the path of a Python training script.")
    if p.is_dir():
        raise UsageError(f"{path} is a directory. Give the path of a Python training script inside it.")
    if p.suffix not in (".py", ""):
        raise UsageError(f"{path} is not a Python script (expected a .py file).")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path} can't be read as a Python source file: {exc}.") from exc
    try:
        compile(text, str(p), "exec")
    except SyntaxError as exc:
        line = (exc.text or "").strip()
        raise UsageError(
            f"{path} has a syntax error at line {exc.lineno}: {exc.msg}" + (f" (`{line}`)" if line else "") + "."
        ) from exc
    if not text.strip():
        raise UsageError(f"{path} is empty: there is no training to check.")
    return p.resolve()


class _Signalled(BaseException):
    """Raised in the parent by SIGTERM/SIGHUP; the ``finally`` blocks stop the child and remove the temp folder."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _forward_signals() -> dict[int, Any]:
    """Turn SIGTERM and SIGHUP into an exception in the parent (main thread only), so that the child's
    process group is stopped and the temporary folder removed before fitdoctor exits."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def handler(signum: int, frame: Any) -> None:
        raise _Signalled(signum)

    return {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}


def _restore_signals(previous: dict[int, Any]) -> None:
    for sig, old in previous.items():
        signal.signal(sig, old)


def _kill_group(proc: ChildProcess) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=KILL_GRACE)
            if sig == signal.SIGTERM:
                # Leftover members of the group (DataLoader workers, helpers) get SIGKILL too.
                continue
            return
        except subprocess.TimeoutExpired:
            continue


def run_check(
    script: str | None,
    options: CheckOptions,
    user_output: TextSink | None = None,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Run ``script`` in a child process under the recorder and return the report.

    Args:
        script: Path of the user's script (None with ``options.module``).
        options: Budgets, seed and script arguments.
        user_output: Where the script's own output goes (default: our stderr).
        progress: Told what the check is doing (the child's phases).

    Raises:
        UsageError: The script does not exist or is not Python.
        CaptureError: The child process died or ran past its budget without a result.
    """
    try:
        return _run_check(script, options, user_output, progress)
    except _Signalled as exc:
        name = signal.Signals(exc.signum).name
        raise Interrupted(
            f"fitdoctor check was stopped by {name}: the script and every process it started were stopped, and "
            "fitdoctor's temporary files removed."
        ) from None


def _run_check(
    script: str | None,
    options: CheckOptions,
    user_output: TextSink | None,
    progress: Callable[[str], None] | None,
) -> Report:
    target = resolve_target(script, options)
    script = target.display
    out = user_output if user_output is not None else sys.stderr
    with tempfile.TemporaryDirectory(prefix="fitdoctor-", ignore_cleanup_errors=True) as tmp:
        result_path = os.path.join(tmp, "result.json")
        tempdir = os.path.join(tmp, "tmp")
        os.mkdir(tempdir)
        mirror = None
        if not options.in_place:
            work = os.path.join(tmp, "work")
            os.mkdir(work)
            mirror = build_mirror([target.code_root, target.run_dir], work)
            for path, text in options.sources.items():
                mirror.replace_file(os.path.abspath(path), text)
        elif options.sources:
            raise UsageError("a patched script is only re-checked in a scratch copy, not --in-place")
        place = mirror.to_scratch if mirror is not None else (lambda p: p)
        job = {
            "script": place(str(target.path)),
            "display": target.display,
            "module": target.module,
            "run_dir": place(target.run_dir),
            "code_root": place(target.code_root),
            "display_root": os.getcwd(),
            "folders": dict(mirror.folders) if mirror is not None else {},
            "private": tmp,
            "tempdir": tempdir,
            "args": list(options.args),
            "steps": options.steps,
            "time_budget": options.time_budget,
            # Every rank stops at rank 0's step count (a rank stopping on time would hang the others).
            "capture_target_s": options.capture_target_s if (options.nproc_per_node or 1) <= 1 else None,
            "replay_steps": options.replay_steps,
            "planned": options.planned,
            "seed": options.seed,
            "stage": options.stage,
            # The child's own guard, past the parent's (which stops it first when all is well).
            "hard_limit": options.stage * options.time_budget + ANALYSIS_BUDGET + 2 * CAPTURE_GRACE,
            "result": result_path,
            "progress": os.path.join(tmp, "progress"),
            "rules": options.rules.to_job(),
            "world_size": options.nproc_per_node,
        }
        job_path = os.path.join(tmp, "job.json")
        Path(job_path).write_text(json.dumps(job), encoding="utf-8")
        env = child_environment(os.environ, options.seed)
        src = SOURCE
        try:
            fileno = out.fileno()  # type: ignore[union-attr]
        except (AttributeError, OSError, ValueError):
            fileno = None
        if options.quiet:
            fileno = subprocess.DEVNULL
        ranks = launch_environments(options.nproc_per_node)
        proc = start_child([CHILD_BOOTSTRAP, src, job_path], {**env, **ranks[0]}, fileno)
        others: list[ChildProcess] = []
        deadline = time.monotonic() + options.stage * options.time_budget + ANALYSIS_BUDGET
        timed_out = False
        previous = _forward_signals()
        try:
            for rank, rank_env in enumerate(ranks[1:], start=1):
                others.append(_start_follower(job, rank, tmp, src, {**env, **rank_env}, fileno))
            if fileno is None:
                assert proc.stdout is not None
                _pump(proc, out, deadline)
            capture_deadline = time.monotonic() + options.stage * options.time_budget + CAPTURE_GRACE
            _wait(proc, deadline, str(job["progress"]), progress, capture_deadline)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            for follower in others:
                _kill_group(follower)
            _kill_group(proc)
            _restore_signals(previous)
            if fileno is None and hasattr(out, "flush"):
                out.flush()  # a last line without its line break
        report = _read_report(result_path, tmp, len(others) + 1, mirror)
        if report is not None:
            return report
        if timed_out:
            raise CaptureError(
                f"{script} did not reach a stop within the time budget ({options.time_budget:g} s for the script, "
                f"{ANALYSIS_BUDGET:g} s for the analysis) and was stopped, with every process it started. If it "
                "hangs before training (a download, a lock, an endless loop), fix that first; a slow first step "
                "needs a larger --time-budget."
            )
        raise CaptureError(
            f"{script} ended the check before fitdoctor could report (exit status {proc.returncode}); "
            "the script may call os._exit() or be killed by the system (out of memory?)."
        )


def _read_report(result_path: str, tmp: str, world: int, mirror: Any) -> Report | None:
    """Rank 0's report as the child wrote it (None when it wrote none), with what the scratch copy saw written
    and the other ranks' facts."""
    if not os.path.exists(result_path):
        return None
    data = json.loads(Path(result_path).read_text(encoding="utf-8"))
    if "internal_error" in data:
        raise FitdoctorError(
            "fitdoctor failed while analysing the script (an internal error, not a problem in your "
            "script). Please report it at https://github.com/fitdoctor/fitdoctor/issues with this "
            "detail:\n" + data["internal_error"]
        )
    report = Report.from_dict(data)
    if world > 1 and report.training is not None:
        report = _with_ranks(report, tmp, world)
    if mirror is not None:
        written = {(w.path, w.change): w for w in (*report.files_written, *mirror.changes(os.getcwd()))}
        report = replace(report, files_written=tuple(sorted(written.values(), key=_write_order)))
    return report


def _with_ranks(report: Report, tmp: str, world: int) -> Report:
    """Rank 0's report with a note on what the other ranks' loops did (their steps, their own logged loss)."""
    training = report.training
    assert training is not None
    facts = []
    for rank in range(1, world):
        try:
            data = json.loads(Path(tmp, f"result-{rank}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            facts.append(f"rank {rank}: no facts (stopped before its capture ended)")
            continue
        losses = [v for v in data.get("losses", []) if isinstance(v, (int, float))]
        curve = f", its loss {losses[0]:.3g} → {losses[-1]:.3g}" if losses else ""
        facts.append(f"rank {rank}: {data.get('steps', 0)} steps{curve}")
    return replace(report, training=replace(training, notes=(*training.notes, "other ranks: " + "; ".join(facts))))


def launch_environments(nproc: int) -> list[dict[str, str]]:
    """The environment of each rank, as ``torchrun --nproc-per-node NPROC`` sets it on one node (rendezvous
    on a free local port); ``[{}]`` for one process, which runs as ``python`` would run it."""
    if nproc <= 1:
        return [{}]
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    common = {
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
        "WORLD_SIZE": str(nproc),
        "LOCAL_WORLD_SIZE": str(nproc),
        "ROLE_WORLD_SIZE": str(nproc),
        "GROUP_RANK": "0",
        "ROLE_NAME": "default",
        "TORCHELASTIC_RESTART_COUNT": "0",
        "TORCHELASTIC_MAX_RESTARTS": "0",
    }
    return [{**common, "RANK": str(r), "LOCAL_RANK": str(r), "ROLE_RANK": str(r)} for r in range(nproc)]


def _start_follower(
    job: dict[str, Any], rank: int, tmp: str, src: str, env: dict[str, str], fileno: Any
) -> ChildProcess:
    """Another rank: it runs the script under the recorder, which stops it at the same step as rank 0 (never
    on time: a rank that stops early would leave the others waiting in a collective), and reports nothing."""
    own = {
        **job,
        "follower": True,
        "time_budget": 1e9,
        "result": os.path.join(tmp, f"result-{rank}.json"),
        "progress": os.path.join(tmp, f"progress-{rank}"),
    }
    path = os.path.join(tmp, f"job-{rank}.json")
    Path(path).write_text(json.dumps(own), encoding="utf-8")
    return start_child([CHILD_BOOTSTRAP, src, path], env, fileno if fileno is not None else subprocess.DEVNULL)


def _write_order(write: FileWrite) -> tuple[bool, str, str]:
    """Changes that reached the user's files first, then by path."""
    return (not write.reached, write.path, write.change)


def _wait(
    proc: ChildProcess,
    deadline: float,
    progress_path: str,
    progress: Callable[[str], None] | None,
    capture_deadline: float,
) -> None:
    """Wait for the child, passing on its progress; raise TimeoutExpired past the deadline, or past the
    capture deadline while the script is still running (its own hooks never got to stop it)."""
    last = ""
    while proc.poll() is None:
        now = time.monotonic()
        try:
            text = Path(progress_path).read_text(encoding="utf-8")
        except OSError:
            text = last
        if now > deadline or (now > capture_deadline and (not text or text.startswith(CAPTURE_PHASE))):
            raise subprocess.TimeoutExpired(proc.args, 0)
        if progress is not None and text and text != last:
            progress(text)
        last = text
        with contextlib.suppress(subprocess.TimeoutExpired):  # back when the child ends, or in 0.1 s
            proc.wait(timeout=0.1)


def _pump(proc: ChildProcess, out: TextSink, deadline: float) -> None:
    """Copy the child's output to ``out`` until it exits or the deadline passes."""
    import selectors

    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    while time.monotonic() < deadline:
        for _key, _ in sel.select(timeout=0.2):
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                return
            out.write(chunk.decode("utf-8", "replace"))
        if proc.poll() is not None and not sel.select(timeout=0):
            return
    raise subprocess.TimeoutExpired(proc.args, 0)
