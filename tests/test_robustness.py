"""Whatever the script does, fitdoctor keeps its head: hangs, exits, stdin, CUDA, noisy output."""

from __future__ import annotations

import os
import time

import pytest

from conftest import SCRIPTS, run_cli

ROBUST = SCRIPTS / "robust"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return False


@pytest.mark.slow
def test_a_hang_before_training_is_stopped_within_the_budget() -> None:
    started = time.monotonic()
    run = run_cli("check", str(ROBUST / "hang_before_training.py"), "--time-budget", "2")
    assert run.code == 2
    assert "did not reach a stop within the time budget" in run.stderr and "Traceback" not in run.stderr
    assert time.monotonic() - started < 60  # budget 2 s + grace 15 s, well under a minute


@pytest.mark.slow
def test_sigterm_ignoring_script_and_its_helper_are_killed() -> None:
    run = run_cli("check", str(ROBUST / "ignores_sigterm.py"), "--time-budget", "2")
    assert run.code == 2
    helper = int(next(line.split()[1] for line in run.stderr.splitlines() if line.startswith("helper ")))
    deadline = time.monotonic() + 10
    while _alive(helper) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(helper), "the script's helper process was left running"


@pytest.mark.slow
def test_os_exit_after_training_keeps_the_capture() -> None:
    run = run_cli("check", str(ROBUST / "os_exit_after_training.py"), "--format", "json")
    assert run.code == 0, run.stderr[-2000:]
    assert run.report is not None and run.report["training"]["steps_captured"] == 30


@pytest.mark.slow
def test_input_gets_no_terminal_and_a_hint() -> None:
    run = run_cli("check", str(ROBUST / "reads_input.py"), "--format", "json")
    assert run.code == 2 and run.report is not None and run.report["findings"][0]["code"] == "FD901"
    assert "stdin" in run.report["findings"][0]["message"] and "EOFError" in run.report["error"]["traceback"]


@pytest.mark.slow
def test_cuda_on_a_machine_without_gpu_says_so() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU: the script runs")
    run = run_cli("check", str(ROBUST / "wants_cuda.py"), "--format", "json")
    assert run.code == 2 and run.report is not None
    assert "no usable CUDA GPU" in run.report["findings"][0]["message"]


@pytest.mark.slow
def test_noisy_script_leaves_stdout_with_exactly_one_json_object() -> None:
    run = run_cli("check", str(ROBUST / "prints_a_lot.py"), "--format", "json", "--steps", "50")
    assert run.code == 0, run.stderr[-2000:]
    assert run.report is not None and run.report["status"] == "ok"  # json.loads succeeded on all of stdout
    assert run.stderr.count("\n") >= 50_000  # the script's lines went to stderr
    assert run.report["training"]["steps_captured"] == 50


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["thread_training", "gan", "scheduler_dict_batches", "embedding_ids", "data_parallel"]
)
def test_loop_shapes_are_captured_without_false_alarms(name: str) -> None:
    run = run_cli("check", str(ROBUST / f"{name}.py"), "--format", "json", "--steps", "60", "--replay-steps", "120")
    assert run.code == 0, run.stderr[-2000:]
    report = run.report
    assert report is not None and report["status"] == "ok"
    assert report["training"]["steps_captured"] == 60
    assert [f["code"] for f in report["findings"] if f["severity"] != "info"] == []
    if name == "gan":
        (note,) = [n for n in report["training"]["notes"] if "several optimizers" in n]
        assert "checked the model the first one trains" in note and "were not checked" in note
