"""The child process: run the user's script under the recorder, then analyse what it trained.

Started by :mod:`fitdoctor.capture.runner` as ``python -m fitdoctor.capture.child JOB.json``. The
user's output goes to this process's stdout, which the parent points at its own stderr. The result
(a report as JSON) is written to the file named in the job; nothing else crosses back.
"""

from __future__ import annotations

import gc
import json
import os
import runpy
import signal
import sys
import tempfile
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fitdoctor.capture.userframes import UserFiles

if TYPE_CHECKING:
    from fitdoctor.capture.scratch import WriteGuard


def _write(path: str, payload: dict[str, Any]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, allow_nan=False, default=_json_default)
    os.replace(tmp, path)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, float):
        return None
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)


def _clean(obj: Any) -> Any:
    """NaN and Inf become None so the JSON stays standard."""
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def _progress_writer(path: str | None) -> Any:
    """A function that records the current phase in the progress file the parent polls."""

    def write(text: str) -> None:
        if path:
            with open(path + ".tmp", "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(path + ".tmp", path)

    return write


def _crash_hint(exc: BaseException, run_dir: str, scratch: bool, script: str) -> str:
    """A sentence for crashes caused by how fitdoctor runs the script rather than by the script.

    Args:
        exc: The script's exception.
        run_dir: The folder the script ran in (the user's original path).
        scratch: Whether it ran in a scratch copy of that folder.
        script: The script's original path.
    """
    text = str(exc)
    if isinstance(exc, ImportError) and "relative import" in text:
        module = _module_name(script)
        return "The script uses relative imports, so it runs as a module: " + (
            f"`fitdoctor check -m {module}` from the folder above its package" if module else "use -m"
        )
    if isinstance(exc, (OSError, ImportError)):
        where = f"a scratch copy of {run_dir}" if scratch else run_dir
        return f"The script ran in {where}; if it expects another working folder, pass it with --cwd DIR"
    if isinstance(exc, EOFError):
        return (
            "The script reads from stdin (input()); fitdoctor runs it without a terminal, so pass the value "
            "as an argument after `--` instead"
        )
    if "CUDA" in text or "cuda" in text:
        import torch

        if not torch.cuda.is_available():
            return (
                "This machine has no usable CUDA GPU; make the device a choice, e.g. "
                "`device = 'cuda' if torch.cuda.is_available() else 'cpu'`"
            )
    return ""


def _module_name(script: str) -> str | None:
    """The dotted module name of ``script`` inside its package (folders with ``__init__.py``), if any."""
    folder, name = os.path.split(os.path.abspath(script))
    parts = [os.path.splitext(name)[0]]
    while os.path.exists(os.path.join(folder, "__init__.py")):
        folder, package = os.path.split(folder)
        parts.insert(0, package)
    return ".".join(parts) if len(parts) > 1 else None


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Capture and analyse one script; returns the report as a dict."""
    from dataclasses import asdict

    from fitdoctor.capture.scratch import WriteGuard

    back = {copy: original for original, copy in job["folders"].items()}
    guard = WriteGuard(job["private"], list(back), job["display_root"])
    sys.addaudithook(guard)
    tempfile.tempdir = job["tempdir"]  # folders the script's mkdtemp() leaves go with fitdoctor's own
    result = _run_job(job, guard, lambda text: _to_original(text, back))
    result["files_written"] = [asdict(w) for w in guard.recorded()]
    return result


def _to_original(text: str, back: dict[str, str]) -> str:
    """``text`` with every path in the scratch copy replaced by the user's original path."""
    for copy, original in back.items():
        text = text.replace(copy, original)
    return text


def _run_job(job: dict[str, Any], guard: WriteGuard, original: Callable[[str], str]) -> dict[str, Any]:
    # Imported here so that a broken torch install is reported as our error, not a crash at start.
    import torch

    from fitdoctor.analysis import analyse, meta_report
    from fitdoctor.capture.build import build, problem
    from fitdoctor.capture.recorder import Recorder, StopCapture
    from fitdoctor.effort import DEFAULT_SECONDS
    from fitdoctor.selection import RuleSelection

    script = job["script"]
    display = job["display"]
    module = job.get("module")
    user_files = UserFiles(script, root=job["code_root"], original=original)
    recorder = Recorder(user_files, job["steps"], job["time_budget"], stage=int(job.get("stage", 1)))
    os.chdir(job["run_dir"])
    sys.path.insert(0, job["code_root"])
    sys.argv = [script, *job["args"]]
    torch.manual_seed(job["seed"])
    if not os.environ.get("OMP_NUM_THREADS"):
        # Small training scripts run far faster on one intra-op thread on small machines (measured
        # 18.8 s -> 3.8 s on a 2-core machine); a script that sets its own thread count still wins.
        torch.set_num_threads(1)
    crash: BaseException | None = None
    exit_code: Any = None
    started = time.perf_counter()
    progress = _progress_writer(job.get("progress"))
    progress(f"running {display}")  # the parent treats "running ..." as the capture phase
    stdout, stderr = sys.stdout, sys.stderr
    recorder.install()
    real_exit = os._exit
    main_pid = os.getpid()

    def script_exit(code: int) -> None:
        # os._exit in the script itself ends the capture like sys.exit; in forked helpers it stays real.
        if os.getpid() == main_pid:
            raise SystemExit(code)
        real_exit(code)

    os._exit = script_exit  # type: ignore[assignment]
    guard.active = True
    try:
        with warnings.catch_warnings():
            if module:
                runpy.run_module(module, run_name="__main__", alter_sys=True)
            else:
                runpy.run_path(script, run_name="__main__")
    except StopCapture:
        pass
    except SystemExit as exc:
        exit_code = exc.code
    except BaseException as exc:  # the user's error, reported with the user's traceback
        if not recorder.stopped:
            crash = exc
    finally:
        guard.active = False
        os._exit = real_exit
        recorder.uninstall()
        sys.stdout, sys.stderr = stdout, stderr
        gc.collect()
    recorder.finish()
    capture_s = time.perf_counter() - started
    timings = {"capture_s": capture_s}
    if crash is not None:
        tb = user_files.format_traceback(crash)
        message = original(f"{display} raised {type(crash).__name__}: {crash}")
        if recorder.steps:
            message += f" after {recorder.steps} training steps"
        hint = _crash_hint(crash, original(job["run_dir"]), bool(job["folders"]), original(script))
        if hint:
            message += f". {hint}"
        return meta_report(
            display,
            "crashed",
            "FD901",
            message,
            {"traceback": tb, "steps": recorder.steps},
            timings=timings,
            seed=job["seed"],
        ).to_dict()
    found = problem(recorder, display, budget=job["time_budget"], exit_code=exit_code)
    if found is not None:
        return meta_report(
            display, found.status, found.code, found.message, found.extra, timings=timings, seed=job["seed"]
        ).to_dict()
    captured = build(recorder, job["seed"], job["display_root"])
    if exit_code not in (None, 0):
        captured.notes.append(
            f"exit: the script exited with sys.exit({exit_code!r}) after {recorder.steps} training steps; the check "
            "used what it captured until then"
        )
    replay_steps = job["replay_steps"] or max(2 * recorder.steps, 200)
    report = analyse(
        captured.setup,
        captured.locate,
        script=display,
        replay_steps=replay_steps,
        training=captured.training,
        is_user=user_files.is_user,
        notes=captured.notes,
        timings=timings,
        rules=RuleSelection.from_job(job),
        progress=progress,
        # A large model's analysis is scaled to about 4x the script's budget (120 s at the default 30 s).
        budget_s=min(DEFAULT_SECONDS, 4 * float(job["time_budget"])),
    )
    return report.to_dict()


def _die_with_parent() -> None:
    """Linux: the kernel kills this process when the ``fitdoctor check`` that started it dies, even by SIGKILL."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the parent died before prctl took effect
            os._exit(2)
    except (OSError, AttributeError):
        pass


def _hard_limit(seconds: float) -> None:
    """The time budget, kept here too: past it, the whole process group (the script's helpers too) is killed,
    whatever happened to the parent that also enforces it."""
    if seconds <= 0:
        return

    def kill() -> None:
        try:
            os.killpg(os.getpgid(0), signal.SIGKILL)
        except OSError:
            os._exit(2)

    timer = threading.Timer(seconds, kill)
    timer.daemon = True
    timer.start()


def main() -> None:
    """Entry point of the child process (``sys.argv``: the fitdoctor source folder, then the job file)."""
    job_path = sys.argv[-1]
    with open(job_path, encoding="utf-8") as fh:
        job = json.load(fh)
    _die_with_parent()
    _hard_limit(float(job.get("hard_limit") or 0))
    try:
        result = run_job(job)
    except BaseException as exc:  # our own failure: reported by the parent as an internal error
        result = {"internal_error": "".join(traceback.format_exception(exc))}
    _write(job["result"], _clean(result))
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: user threads or atexit handlers must not hold the check hostage.
    os._exit(0)


if __name__ == "__main__":
    main()
