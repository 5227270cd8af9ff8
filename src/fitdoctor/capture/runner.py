"""The parent side: start the child process, enforce the time budget, read the result back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from fitdoctor.errors import CaptureError, FitdoctorError, Interrupted, UsageError
from fitdoctor.findings import Report
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


@dataclass
class CheckOptions:
    """Options of one ``fitdoctor check`` run.

    Attributes:
        steps: Stop the script after this many optimizer steps.
        time_budget: Stop the script after this many seconds.
        replay_steps: Steps per replay (0: twice the captured steps, at least 200).
        seed: Seed of the script and of every replay.
        args: Arguments passed to the script.
        rules: Rule selection and threshold overrides.
        quiet: Drop the script's own output.
        stage: Which training stage to check (1: the first).
    """

    steps: int = 200
    time_budget: float = 30.0
    replay_steps: int = 0
    seed: int = 0
    args: list[str] = field(default_factory=list)
    rules: RuleSelection = field(default_factory=RuleSelection)
    quiet: bool = False
    stage: int = 1


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


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
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
    script: str,
    options: CheckOptions,
    user_output: IO[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Run ``script`` in a child process under the recorder and return the report.

    Args:
        script: Path of the user's script.
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
    script: str,
    options: CheckOptions,
    user_output: IO[str] | None,
    progress: Callable[[str], None] | None,
) -> Report:
    path = validate_script(script)
    out = user_output if user_output is not None else sys.stderr
    with tempfile.TemporaryDirectory(prefix="fitdoctor-") as tmp:
        result_path = os.path.join(tmp, "result.json")
        job = {
            "script": str(path),
            "display": script,
            "cwd": os.getcwd(),
            "args": list(options.args),
            "steps": options.steps,
            "time_budget": options.time_budget,
            "replay_steps": options.replay_steps,
            "seed": options.seed,
            "stage": options.stage,
            # The child's own guard, past the parent's (which stops it first when all is well).
            "hard_limit": options.stage * options.time_budget + ANALYSIS_BUDGET + 2 * CAPTURE_GRACE,
            "result": result_path,
            "progress": os.path.join(tmp, "progress"),
            "rules": options.rules.to_job(),
        }
        job_path = os.path.join(tmp, "job.json")
        Path(job_path).write_text(json.dumps(job), encoding="utf-8")
        env = dict(os.environ)
        env["MPLBACKEND"] = "Agg"
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONDONTWRITEBYTECODE"] = "1"  # no __pycache__ beside the user's modules
        env.setdefault("PYTHONHASHSEED", str(options.seed))
        src = str(Path(__file__).resolve().parents[2])
        try:
            fileno = out.fileno()
        except (AttributeError, OSError, ValueError):
            fileno = None
        if options.quiet:
            fileno = subprocess.DEVNULL
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD_BOOTSTRAP, src, job_path],
            stdin=subprocess.DEVNULL,
            stdout=fileno if fileno is not None else subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
        deadline = time.monotonic() + options.stage * options.time_budget + ANALYSIS_BUDGET
        timed_out = False
        previous = _forward_signals()
        try:
            if fileno is None:
                assert proc.stdout is not None
                _pump(proc, out, deadline)
            capture_deadline = time.monotonic() + options.stage * options.time_budget + CAPTURE_GRACE
            _wait(proc, deadline, str(job["progress"]), progress, capture_deadline)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            _kill_group(proc)
            _restore_signals(previous)
        if os.path.exists(result_path):
            data = json.loads(Path(result_path).read_text(encoding="utf-8"))
            if "internal_error" in data:
                raise FitdoctorError(
                    "fitdoctor failed while analysing the script (an internal error, not a problem in your "
                    "script). Please report it at https://github.com/fitdoctor/fitdoctor/issues with this "
                    "detail:\n" + data["internal_error"]
                )
            return Report.from_dict(data)
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


def _wait(
    proc: subprocess.Popen[bytes],
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
        time.sleep(0.1)


def _pump(proc: subprocess.Popen[bytes], out: IO[str], deadline: float) -> None:
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


def as_json(report: Report) -> str:
    """The report as pretty JSON."""
    return json.dumps(report.to_dict(), indent=2, allow_nan=False)
