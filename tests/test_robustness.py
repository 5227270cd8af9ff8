"""Whatever the script does, fitdoctor keeps its head: hangs, exits, stdin, CUDA, noisy output."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from conftest import SCRIPTS, finish_cli, process_alive, run_cli, start_cli

#: These tests are about processes: their checks start fresh children, as a check does by default.
pytestmark = pytest.mark.cold

ROBUST = SCRIPTS / "robust"

#: Scripts that never reach a stop from inside: the parent stops them past the time budget. They run at once
#: (each mostly waits out the budget and the grace), then each is checked. The budget counts from the script's
#: start, torch's import included, so the scripts that hang after a few steps get one those steps fit in on a
#: loaded machine (at 2-3 s a slow start could end the capture from inside before the hang).
HUNG = {
    "hang_before_training": "2",  # sleeps in a wait loop before any training
    "hang_in_training": "8",  # spins in a pure-Python busy loop after 2 steps
    "ignores_sigterm": "2",  # ignores SIGTERM and leaves a helper process that ignores it too
    "hang_with_workers": "8",  # a DataLoader with 2 workers, the main process ignoring SIGTERM, hung after 3 steps
}


def _gone(pids: list[int]) -> bool:
    """Whether every process in ``pids`` has exited, waiting up to 10 s for the group's kill to land."""
    deadline = time.monotonic() + 10
    while any(process_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    return not any(process_alive(pid) for pid in pids)


@pytest.mark.slow
def test_hung_scripts_are_stopped_with_every_process_they_started() -> None:
    """No hook ever runs again in these scripts: the parent stops each past its budget (the subprocess
    timeout bounds the wait; no wall-clock assertion), with the helpers and DataLoader workers it started."""
    procs = {name: start_cli("check", str(ROBUST / f"{name}.py"), "--time-budget", b) for name, b in HUNG.items()}
    runs = {name: finish_cli(proc) for name, proc in procs.items()}
    for name in ("hang_before_training", "hang_in_training"):
        run = runs[name]
        assert run.code == 2, (name, run.stdout[-2000:])
        assert "did not reach a stop within the time budget" in run.stderr and "Traceback" not in run.stderr, name
    run = runs["ignores_sigterm"]
    assert run.code == 2
    helper = int(re.findall(r"helper (\d+)", run.stderr)[0])
    assert _gone([helper]), "the script's helper process was left running"
    run = runs["hang_with_workers"]
    # Exit 2 either way: stopped at the budget, or (when the group's SIGTERM reaches a worker first) the
    # script's own DataLoader error is reported.
    assert run.code == 2
    # two workers write to one stream at once: a line of one may run into the other's
    workers = [int(pid) for pid in re.findall(r"worker (\d+)", run.stderr)]
    assert len(workers) == 2, run.stderr[-2000:]
    assert _gone(workers), "DataLoader workers were left running"


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
    "name", ["thread_training", "gan", "scheduler_dict_batches", "embedding_ids", "data_parallel", "multi_input"]
)
def test_loop_shapes_are_captured_without_false_alarms(name: str) -> None:
    run = run_cli("check", str(ROBUST / f"{name}.py"), "--format", "json", "--steps", "60", "--replay-steps", "120")
    assert run.code == 0, run.stderr[-2000:]
    report = run.report
    assert report is not None and report["status"] == "ok"
    assert report["training"]["steps_captured"] == 60
    assert [f["code"] for f in report["findings"] if f["severity"] != "info"] == []
    # The stop ends a loop in a thread too, without printing fitdoctor's StopCapture as the thread's error.
    assert "Traceback" not in run.stderr and "StopCapture" not in run.stderr
    if name == "gan":
        (note,) = [n for n in report["training"]["notes"] if "several optimizers" in n]
        assert "checked every model they train" in note
        assert any(n.startswith("adversarial objectives") for n in report["training"]["notes"])


@pytest.mark.slow
def test_sys_exit_before_training_says_how_the_script_ended() -> None:
    run = run_cli("check", str(ROBUST / "sys_exit_before_training.py"), "--format", "json")
    assert run.code == 2 and run.report is not None
    (finding,) = run.report["findings"]
    assert finding["code"] == "FD902" and "sys.exit(3)" in finding["message"]


@pytest.mark.slow
def test_os_exit_before_training_is_a_clear_no_step_report() -> None:
    run = run_cli("check", str(ROBUST / "os_exit_before_training.py"), "--format", "json")
    assert run.code == 2 and run.report is not None
    assert run.codes() == ["FD902"] and "finished without a training step" in run.report["findings"][0]["message"]
    assert "Traceback" not in run.stderr


@pytest.mark.slow
def test_fitdoctors_own_stdin_never_reaches_the_script() -> None:
    run = run_cli("check", str(ROBUST / "reads_input.py"), "--format", "json", stdin_text="yes\n" * 100)
    assert run.code == 2 and run.report is not None
    assert run.report["findings"][0]["code"] == "FD901" and "EOFError" in run.report["error"]["traceback"]


@pytest.mark.slow
def test_arguments_after_double_dash_belong_to_the_script_even_when_they_clash() -> None:
    run = run_cli(
        "check", str(ROBUST / "argparse_script.py"), "--format", "json", "--", "--epochs", "3", "--format", "csv"
    )
    assert run.code == 0, run.stderr[-2000:]
    assert run.report is not None and run.report["status"] == "ok"  # our --format json held
    assert "script args: epochs=3 format=csv" in run.stderr
    assert run.report["training"]["steps_captured"] == 12  # 3 epochs x 4 batches: the script saw --epochs 3


@pytest.mark.slow
def test_hand_written_loss_is_replayed_as_written() -> None:
    """A mean squared error written by hand is the user's objective: replayed as the script computes it,
    read as an mse term with its target, and a healthy script gets nothing."""
    run = run_cli("check", str(ROBUST / "hand_written_loss.py"), "--format", "json")
    assert run.code == 0 and run.report is not None, run.stderr[-2000:]
    assert run.report["status"] == "ok" and run.codes() == []
    assert run.report["setup"]["loss"]["name"] == "mse_loss"
    assert run.report["setup"]["loss"]["kwargs"] == {"reduction": "mean"}


@pytest.mark.slow
def test_torch_compile_is_checked_eagerly_and_the_report_says_so() -> None:
    run = run_cli("check", str(ROBUST / "compiled.py"), "--format", "json", "--steps", "60", "--replay-steps", "120")
    assert run.code == 0, run.stderr[-2000:]
    report = run.report
    assert report is not None and report["training"]["steps_captured"] == 60
    assert [f["code"] for f in report["findings"] if f["severity"] != "info"] == []
    assert any(n.startswith("torch.compile: the check ran the model eagerly") for n in report["training"]["notes"])
    assert report["setup"]["model"]["parameters"] == 8 * 64 + 64 + 64 * 64 + 64 + 64 + 1


@pytest.mark.slow
def test_empty_script_is_a_usage_error(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    run = run_cli("check", str(ROBUST / "empty.py"), "--output", str(out))
    assert run.code == 2 and "is empty: there is no training to check" in run.stderr
    assert "Traceback" not in run.stderr and not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--steps", "many"], "Invalid value for '--steps'"),
        (["--time-budget", "-5"], "Invalid value for '--time-budget'"),
        (["--format", "xml"], "Invalid value for '--format'"),
        (["--seed", "1.5"], "Invalid value for '--seed'"),
    ],
)
def test_wrong_option_types_are_usage_errors_that_write_nothing(tmp_path: Path, args: list[str], message: str) -> None:
    out, page = tmp_path / "report.json", tmp_path / "report.html"
    run = run_cli("check", str(ROBUST / "argparse_script.py"), *args, "--output", str(out), "--html", str(page))
    assert run.code == 2 and message in run.stderr and "Traceback" not in run.stderr
    assert not out.exists() and not page.exists()


@pytest.mark.parametrize("target", ["missing.py", "README.md", "tests"])
def test_bad_script_paths_write_nothing(tmp_path: Path, target: str) -> None:
    out, page = tmp_path / "report.json", tmp_path / "report.html"
    run = run_cli("check", target, "--output", str(out), "--html", str(page))
    assert run.code == 2 and "Traceback" not in run.stderr
    assert not out.exists() and not page.exists()


@pytest.mark.slow
def test_the_report_records_a_non_default_seed_also_when_the_script_crashes() -> None:
    run = run_cli("check", str(ROBUST / "sys_exit_before_training.py"), "--format", "json", "--seed", "7")
    assert run.report is not None and run.report["seed"] == 7
    run = run_cli(
        "check",
        str(ROBUST / "argparse_script.py"),
        "--format",
        "json",
        "--seed",
        "7",
        "--",
        "--epochs",
        "2",
        "--format",
        "csv",
    )
    assert run.report is not None and run.report["status"] == "ok" and run.report["seed"] == 7


@pytest.mark.slow
def test_a_million_row_dataset_checks_from_its_captured_batches_and_says_what_was_sampled() -> None:
    run = run_cli("check", str(ROBUST / "million_rows.py"), "--format", "json", "--steps", "100")
    assert run.code == 0, run.stderr[-2000:]
    report = run.report
    assert report is not None and report["training"]["steps_captured"] == 100
    assert report["training"]["batches_kept"] == 100  # what the 100 steps drew, not the 2,000,000 rows
    assert [f["code"] for f in report["findings"] if f["severity"] != "info"] == []
    (note,) = [n for n in report["training"]["notes"] if n.startswith("sampled:")]
    assert "first 16 of the 100 distinct captured batches (4,096 samples)" in note


@pytest.mark.slow
def test_a_100m_parameter_model_is_checked_within_the_budget_with_a_scaled_analysis() -> None:
    # Two steps end the capture (about 3 s on an idle machine); the budget only caps it (budget + 15 s of grace,
    # counted from the child's start: Python, torch from a cold page cache in a fresh venv, the model build and the
    # first step on a loaded machine, which took over 30 s once), and the analysis aims at its 10 s floor, far
    # below what a 400-step replay of this model takes: the point is the scaled analysis, not a tight capture.
    run = run_cli("check", str(ROBUST / "big_model.py"), "--format", "json", "--time-budget", "30", "--steps", "2")
    assert run.code in (0, 1), run.stderr[-2000:]
    report = run.report
    # status ok: the analysis ended on its own, inside the runner's hard limit (budget + 240 s).
    assert report is not None and report["status"] == "ok"
    assert report["setup"]["model"]["parameters"] > 100_000_000
    (note,) = [n for n in report["training"]["notes"] if n.startswith("effort:")]
    assert "replays of" in note and "one training step takes" in note
    assert report["training"]["replay"]["steps"] < 400
