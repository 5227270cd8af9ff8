"""The child process: run the user's script under the recorder, then analyse what it trained.

Started by :mod:`fitdoctor.capture.runner` as ``python -m fitdoctor.capture.child JOB.json``. The
user's output goes to this process's stdout, which the parent points at its own stderr. The result
(a report as JSON) is written to the file named in the job; nothing else crosses back.
"""

from __future__ import annotations

import gc
import json
import math
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
from dataclasses import asdict
from typing import Any, NoReturn

from fitdoctor.capture.userframes import UserFiles

#: When this module was loaded, just after the interpreter started: the start-up phase (importing torch and
#: fitdoctor's capture) runs from here to the script's first line.
_LOADED = time.perf_counter()


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


def _crash_hint(exc: BaseException, run_dir: str, scratch: bool, script: str, shown: str = "") -> str:
    """A sentence for crashes caused by how fitdoctor runs the script rather than by the script.

    Args:
        exc: The script's exception.
        run_dir: The folder the script ran in (the user's original path).
        scratch: Whether it ran in a scratch copy of that folder.
        script: The script's original path.
        shown: The script as the command line named it.
    """
    text = str(exc)
    if "env:// rendezvous" in text or ("environment variable" in text and "RANK" in text):
        return (
            "The script starts torch.distributed and expects a launcher such as torchrun to set RANK and "
            f"WORLD_SIZE: check it with `fitdoctor check --nproc-per-node 2 {shown or script}`, which "
            "launches it as torchrun does"
        )
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
    session = _Session(job)
    session.capture()
    if job.get("follower"):  # another rank of a distributed run: rank 0 reports, with these facts
        losses = [float(v) for v in session.recorder.facts.user_losses]
        return {"follower": True, "steps": session.recorder.steps, "losses": losses}
    return session.result()


def _to_original(text: str, back: dict[str, str]) -> str:
    """``text`` with every path in the scratch copy replaced by the user's original path."""
    for copy, original in back.items():
        text = text.replace(copy, original)
    return text


class _Session:
    """One script's capture, then its analysis."""

    def __init__(self, job: dict[str, Any]) -> None:
        # Imported here so that a broken torch install is reported as our error, not a crash at start.
        from fitdoctor.capture.budget import CaptureBudget
        from fitdoctor.capture.recorder import Recorder
        from fitdoctor.capture.scratch import WriteGuard

        self.job = job
        back = {copy: original for original, copy in job["folders"].items()}
        self.original: Callable[[str], str] = lambda text: _to_original(text, back)
        self.guard = WriteGuard(job["private"], list(back), job["display_root"])
        self.user_files = UserFiles(job["script"], root=job["code_root"], original=self.original)
        target = job.get("capture_target_s")
        budget = CaptureBudget(job["steps"], job["time_budget"], math.inf if target is None else float(target))
        self.recorder = Recorder(self.user_files, budget, stage=int(job.get("stage", 1)))
        self.recorder.stops.on_swallowed = self._finish_inside
        self.progress = _progress_writer(job.get("progress"))
        self.crash: BaseException | None = None
        self.exit_code: Any = None
        self.swallowed = False
        self.started = time.perf_counter()
        self.capture_s = 0.0
        self.start_s = 0.0
        self._restore: list[Callable[[], None]] = []

    def capture(self) -> None:
        """Run the script under the recorder until it ends or the recorder stops it."""
        import torch

        from fitdoctor.capture.stops import StopCapture

        job = self.job
        sys.addaudithook(self.guard)
        tempfile.tempdir = job["tempdir"]  # folders the script's mkdtemp() leaves go with fitdoctor's own
        os.chdir(job["run_dir"])
        sys.path.insert(0, job["code_root"])
        sys.argv = [job["script"], *job["args"]]
        torch.manual_seed(job["seed"])
        if not os.environ.get("OMP_NUM_THREADS"):
            # Small training scripts run far faster on one intra-op thread on small machines (measured
            # 18.8 s -> 3.8 s on a 2-core machine); a script that sets its own thread count still wins.
            torch.set_num_threads(1)
        self.progress(f"running {job['display']}")  # the parent treats "running ..." as the capture phase
        self.started = time.perf_counter()
        self.start_s = self.started - _LOADED
        self._enter()
        try:
            with warnings.catch_warnings():
                if job.get("module"):
                    runpy.run_module(job["module"], run_name="__main__", alter_sys=True)
                else:
                    runpy.run_path(job["script"], run_name="__main__")
        except StopCapture:
            pass
        except SystemExit as exc:
            self.exit_code = exc.code
        except BaseException as exc:  # the user's error, reported with the user's traceback
            if not self.recorder.stops.stopped:
                self.crash = exc
        finally:
            self._leave()

    def _enter(self) -> None:
        """Install the recorder, the write guard and the process-wide patches the capture needs."""
        from fitdoctor.capture.stops import StopCapture

        stdout, stderr = sys.stdout, sys.stderr
        real_exit, main_pid = os._exit, os.getpid()
        real_hook = threading.excepthook

        def script_exit(code: int) -> None:
            # os._exit in the script itself ends the capture like sys.exit; in forked helpers it stays real.
            if os.getpid() == main_pid:
                raise SystemExit(code)
            real_exit(code)

        def thread_hook(args: Any) -> None:
            # A training loop in a thread ends with the recorder's stop: that is no error to print.
            if args.exc_type is not None and issubclass(args.exc_type, StopCapture):
                return
            real_hook(args)

        def restore() -> None:
            self.guard.active = False
            os._exit = real_exit
            threading.excepthook = real_hook
            sys.stdout, sys.stderr = stdout, stderr

        self.recorder.install()
        os._exit = script_exit  # type: ignore[assignment]
        threading.excepthook = thread_hook
        self.guard.active = True
        self._restore = [restore, self.recorder.uninstall]

    def _leave(self) -> None:
        """Undo :meth:`_enter` (once, whichever way the capture ended)."""
        while self._restore:
            self._restore.pop(0)()
        gc.collect()
        self.capture_s = time.perf_counter() - self.started

    def _finish_inside(self) -> None:
        """The script keeps training after swallowing the recorder's stops (a bare ``except:`` around its
        loop): analyse what was captured from inside the hook, deliver the result and end the process."""
        self.swallowed = True
        self._leave()
        _deliver(self.job, self.result)

    def result(self) -> dict[str, Any]:
        """The report of what was captured, as a dict."""
        import torch

        with torch.inference_mode(False), torch.enable_grad():
            result = self._report()
        result["files_written"] = [asdict(w) for w in self.guard.recorded()]
        return result

    def _report(self) -> dict[str, Any]:
        from fitdoctor.analysis import analyse, meta_report
        from fitdoctor.capture.budget import TARGET_REASON
        from fitdoctor.capture.build import build, problem
        from fitdoctor.effort import (
            DEFAULT_SECONDS,
            FLOOR_SECONDS,
            SLOW_FLOOR_SECONDS,
            analysis_budget,
            captured_seconds,
        )
        from fitdoctor.evidence import Locator
        from fitdoctor.rules._meta import SCRIPT_CRASHED
        from fitdoctor.selection import RuleSelection

        job, recorder = self.job, self.recorder
        display = job["display"]
        recorder.finish()
        timings = {"start_s": self.start_s, "capture_s": self.capture_s}
        if self.crash is not None:
            crash = self.crash
            message = self.original(f"{display} raised {type(crash).__name__}: {crash}")
            if recorder.steps:
                message += f" after {recorder.steps} training steps"
            hint = _crash_hint(
                crash,
                self.original(job["run_dir"]),
                bool(job["folders"]),
                self.original(job["script"]),
                shown=job["display"],
            )
            if hint:
                message += f". {hint}"
            extra = {"traceback": self.user_files.format_traceback(crash), "steps": recorder.steps}
            locate = Locator(display_root=job["display_root"], original=self.original)
            where = locate.site(self.user_files.raising_site(crash))
            return meta_report(
                display, "crashed", SCRIPT_CRASHED, message, extra, location=where, timings=timings, seed=job["seed"]
            ).to_dict()
        found = problem(recorder, display, budget=job["time_budget"], exit_code=self.exit_code)
        if found is not None:
            where = Locator(display_root=job["display_root"], original=self.original).site(found.site)
            return meta_report(
                display,
                found.status,
                found.code,
                found.message,
                found.extra,
                location=where,
                timings=timings,
                seed=job["seed"],
            ).to_dict()
        built = time.perf_counter()
        captured = build(recorder, job["seed"], job["display_root"])
        timings["build_s"] = time.perf_counter() - built
        if self.exit_code not in (None, 0):
            captured.notes.append(
                f"exit: the script exited with sys.exit({self.exit_code!r}) after {recorder.steps} training steps; "
                "the check used what it captured until then"
            )
        if self.swallowed:
            captured.notes.append(
                "stop: the script caught fitdoctor's stop and kept training (an `except:` or `except BaseException:` "
                f"around its loop), so the check ended it after {recorder.steps} steps and used what it had captured"
            )
        world = int(job.get("world_size") or 1)
        if world > 1:
            captured.notes.append(
                f"distributed: the script ran in {world} processes as torchrun launches them; this is rank 0's "
                f"check: its batches (its shard of the data), and replays of its model, unwrapped from "
                "DistributedDataParallel, in one process"
            )
        training_s, step_s = captured_seconds(recorder.first_step_at, recorder.last_step_at, recorder.steps)
        slow = recorder.stops.reason.startswith(TARGET_REASON)
        if slow:
            captured.notes.append(
                f"capture: your loop's steps are slow ({step_s or 0:.3g} s each here), so the check captured the "
                f"first {recorder.steps} steps ({training_s:.1f} s of training) rather than {job['steps']}, and aimed "
                f"its analysis at about that time; `--steps {job['steps']}` captures them all"
            )
        cap = min(DEFAULT_SECONDS, 4 * float(job["time_budget"]))
        _keep_freed_memory()
        report = analyse(
            captured.setup,
            captured.locate,
            script=display,
            replay_steps=job["replay_steps"] or max(2 * recorder.steps, 200),
            training=captured.training,
            is_user=self.user_files.is_user,
            notes=captured.notes,
            timings=timings,
            rules=RuleSelection.from_job(job),
            progress=self.progress,
            # The analysis aims at about the time the captured steps took, within 4x the script's budget,
            # unless the user set the replay length.
            budget_s=analysis_budget(
                training_s, cap, SLOW_FLOOR_SECONDS if slow else FLOOR_SECONDS, planned=job.get("planned", True)
            ),
            captured_step_s=step_s,
        )
        return report.to_dict()


def _deliver(job: dict[str, Any], compute: Callable[[], dict[str, Any]]) -> NoReturn:
    """Compute the result, write it where the parent reads it, and end the process without teardown (user
    threads or atexit handlers must not hold the check hostage)."""
    try:
        result = compute()
    except BaseException as exc:  # our own failure: reported by the parent as an internal error
        result = {"internal_error": "".join(traceback.format_exception(exc))}
    _write(job["result"], _clean(result))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _keep_freed_memory() -> None:
    """glibc, for the analysis only (the script ran with the allocator as it was): keep freed memory for reuse
    rather than returning it to the system. The analysis allocates and frees model-sized tensors over and over
    (model copies, optimizer states, snapshots); by default each one above 32 MiB is a fresh mmap whose pages the
    kernel faults in and zeroes every time. Measured on a 100M-parameter model (tests/scripts/robust/big_model.py):
    the check took 61 s, 36 s of it system time, and takes 44 s (20 s) without that churn. The process ends after
    the analysis, and its peak memory is what the live tensors need."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return
    m_trim_threshold, m_top_pad, m_mmap_max = -1, -2, -4
    mallopt(m_mmap_max, 0)  # large blocks from the heap, reusable after free
    mallopt(m_trim_threshold, 2**31 - 1)  # don't give the heap's top back to the system
    mallopt(m_top_pad, 64 << 20)  # grow the heap in 64 MiB steps


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
    _deliver(job, lambda: run_job(job))


if __name__ == "__main__":
    main()
