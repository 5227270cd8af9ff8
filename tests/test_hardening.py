"""Bad input is a clear error (exit 2, no traceback), signals stop everything, the script sees the user's
environment, not fitdoctor's."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

import fitdoctor
from conftest import ROOT, SCRIPTS, process_alive, run_cli, start_hanging_check
from fitdoctor import options
from fitdoctor.config import load_config
from fitdoctor.errors import UsageError

#: These tests are about processes: their checks start fresh children, as a check does by default.
pytestmark = pytest.mark.cold

HARD = SCRIPTS / "hardening"
HEALTHY = ROOT / "examples" / "gelu_final_activation" / "healthy.py"


@pytest.mark.parametrize("value", ["nan", "inf", "0", "-1"])
def test_a_time_budget_that_would_disable_the_hang_guard_is_rejected_in_the_config(tmp_path: Path, value: str) -> None:
    (tmp_path / "pyproject.toml").write_text(f"[tool.fitdoctor]\ntime-budget = {value}\n")
    with pytest.raises(UsageError, match="time-budget must be a finite number of seconds"):
        load_config(tmp_path)


def test_config_select_may_be_one_string(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.fitdoctor]\nselect = "FD3,dead-relu"\n')
    assert load_config(tmp_path).select == ("FD3", "dead-relu")


@pytest.mark.parametrize(
    ("check", "value"),
    [
        (options.seed, -1),
        (options.seed, 2**64),
        (options.seed, 1.5),
        (options.replay_steps, -5),
        (options.steps, 0),
        (options.time_budget, math.nan),
        (options.stage, 0),
    ],
)
def test_every_option_is_validated_in_one_place(check: object, value: object) -> None:
    with pytest.raises(UsageError, match="must be"):
        check(value)  # type: ignore[operator]


def test_the_api_reads_a_string_select_as_one_pattern_and_rejects_bad_numbers() -> None:
    torch.manual_seed(0)
    x = torch.randn(64, 2)
    model = nn.Linear(2, 1)
    with pytest.raises(UsageError, match="replay_steps"):
        fitdoctor.check(model, (x, x[:, :1]), loss="mse", steps=5, replay_steps=-5)
    with pytest.raises(UsageError, match="seed"):
        fitdoctor.check(model, (x, x[:, :1]), loss="mse", steps=5, seed=1.5)  # type: ignore[arg-type]
    report = fitdoctor.check(model, (x, x[:, :1]), loss="mse", steps=20, replay_steps=20, select="FD1")
    assert report.status == "ok"


@pytest.mark.parametrize("option", [["--seed", "-1"], ["--time-budget", "inf"], ["--seed", str(2**64)]])
def test_bad_cli_numbers_are_a_clear_error(option: list[str]) -> None:
    run = run_cli("check", str(HEALTHY), *option)
    assert run.code == 2 and "Traceback" not in run.stderr
    assert "must be" in run.stderr


@pytest.mark.parametrize("name", ["a[/]b.py", "x[bold red]y.py"])
def test_rich_markup_in_a_path_is_printed_as_written(tmp_path: Path, name: str) -> None:
    run = run_cli("check", str(tmp_path / name))
    assert run.code == 2 and "Traceback" not in run.stderr
    assert name in run.stderr.replace("\n", "")


def test_a_syntax_error_says_so_with_the_line(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text("import torch\nfor i in range(3)\n    pass\n")
    run = run_cli("check", str(script))
    assert run.code == 2 and "Traceback" not in run.stderr
    assert "syntax error at line 2" in run.stderr and "for i in range(3)" in run.stderr


@pytest.mark.slow
def test_the_script_sees_neither_our_pythonpath_nor_the_callers_folder(tmp_path: Path) -> None:
    """A module in the folder fitdoctor is run from must not be imported by the child (it would shadow the
    standard library), and fitdoctor adds no PYTHONPATH that the script's own subprocesses would inherit."""
    (tmp_path / "selectors.py").write_text("raise SystemExit('the caller folder was imported')\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    fitdoctor_command = str(Path(sys.executable).with_name("fitdoctor"))  # as users run it, not python -m
    proc = subprocess.run(
        [fitdoctor_command, "check", str(HARD / "shows_environment.py"), "--format", "json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "PYTHONPATH=None" in proc.stderr and "cwd-on-path=False" in proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_to_fitdoctor_stops_the_script_and_removes_the_temp_folder(tmp_path: Path, sig: int) -> None:
    proc, child = start_hanging_check("--time-budget", "60", env={**os.environ, "TMPDIR": str(tmp_path)})
    proc.send_signal(sig)
    rest = proc.communicate(timeout=120)[1]
    assert proc.returncode == 2 and "stopped by" in rest and "Traceback" not in rest
    deadline = time.monotonic() + 30  # a bound on waiting, not a performance assertion
    while process_alive(child) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not process_alive(child), "the script kept running after fitdoctor was stopped"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("fitdoctor-")], "a temp folder was left"


@pytest.mark.slow
def test_a_script_that_exits_with_an_error_code_after_training_says_so() -> None:
    run = run_cli("check", str(HARD / "exits_after_steps.py"), "--format", "json")
    assert run.report is not None and run.report["status"] == "ok", run.stderr[-2000:]
    assert any(
        n.startswith("exit: the script exited with sys.exit(3) after 40") for n in run.report["training"]["notes"]
    )


@pytest.mark.parametrize(
    ("thresholds", "message"),
    [
        ({"dead-relu": {"layer_dead_share": math.nan}}, "finite"),
        ({"dead-relu": {"layer_dead_share": 1.5}}, "share"),
        ({"FD101": {"feature_scale": -3.0}}, "negative"),
    ],
)
def test_bad_threshold_overrides_are_rejected(thresholds: dict[str, dict[str, float]], message: str) -> None:
    from fitdoctor.selection import RuleSelection

    with pytest.raises(UsageError, match=message):
        RuleSelection(thresholds=thresholds).validate()


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _writer_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "train.py").write_text((HARD / "writes_files.py").read_text())
    (folder / "train.log").write_text("yesterday's log\n")
    (folder / "stale.txt").write_text("keep me\n")
    return folder


@pytest.mark.slow
def test_the_scripts_writes_stay_in_a_scratch_copy_and_are_listed(tmp_path: Path) -> None:
    folder = _writer_folder(tmp_path)
    before = _tree(folder)
    run = run_cli(
        "check", "project/train.py", "--format", "json", cwd=tmp_path, env={**os.environ, "TMPDIR": str(tmp_path)}
    )
    assert run.code == 0 and run.report is not None, run.stderr[-2000:]
    assert _tree(folder) == before, "the script's writes reached the user's folder"
    assert {(w["path"], w["change"], w["reached"]) for w in run.report["files_written"]} == {
        ("project/checkpoint.pt", "created", False),
        ("project/train.log", "modified", False),
        ("project/stale.txt", "deleted", False),
    }
    left = run.stderr.split("mkdtemp ", 1)[1].split()[0]
    assert not Path(left).exists(), "the folder the script made with mkdtemp() outlived the check"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"], "fitdoctor left a temp folder"
    full = run_cli("check", str(folder / "train.py"), "--color", "never")
    assert "went to a scratch copy of its folder and were discarded" in " ".join(full.stdout.split())


@pytest.mark.slow
def test_in_place_runs_in_the_users_folder_and_lists_what_reached_it(tmp_path: Path) -> None:
    folder = _writer_folder(tmp_path)
    run = run_cli("check", "train.py", "--in-place", "--format", "json", cwd=folder)
    assert run.code == 0 and run.report is not None, run.stderr[-2000:]
    assert (folder / "train.log").read_text() == "started\n" and not (folder / "stale.txt").exists()
    assert (folder / "checkpoint.pt").exists()
    # torch.save opens its file in C++, out of sight of Python's audit hooks: in place, only Python's own
    # file operations are listed.
    assert {(w["path"], w["change"], w["reached"]) for w in run.report["files_written"]} == {
        ("train.log", "modified", True),
        ("stale.txt", "deleted", True),
    }


@pytest.mark.slow
def test_a_script_that_reads_relative_to_another_folder_runs_with_cwd() -> None:
    project = HARD / "project"
    run = run_cli("check", "scripts/train.py", "--format", "json", cwd=project)
    assert run.code == 2 and run.report is not None
    message = run.report["findings"][0]["message"]
    assert run.report["findings"][0]["code"] == "FD901" and "FileNotFoundError" in message
    assert f"ran in a scratch copy of {project / 'scripts'}" in message and "--cwd" in message
    run = run_cli("check", "scripts/train.py", "--cwd", ".", "--format", "json", cwd=project)
    assert run.code == 0 and run.report is not None, run.stderr[-2000:]
    assert run.report["status"] == "ok" and run.codes("warning") == []


@pytest.mark.slow
def test_a_package_module_runs_with_dash_m_like_python() -> None:
    project = HARD / "project"
    run = run_cli("check", "pkg/train.py", "--format", "json", cwd=project)
    assert run.code == 2 and run.report is not None
    assert "`fitdoctor check -m pkg.train`" in run.report["findings"][0]["message"]
    run = run_cli("check", "-m", "pkg.train", "--format", "json", cwd=project)
    assert run.code == 0 and run.report is not None, run.stderr[-2000:]
    assert run.report["script"] == "pkg/train.py" and run.codes("warning") == []
    missing = run_cli("check", "-m", "pkg.absent", cwd=project)
    assert missing.code == 2 and "no pkg/absent.py or pkg/absent/__main__.py" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_a_large_file_is_read_through_a_link_and_copied_before_the_script_writes_it(tmp_path: Path) -> None:
    """The mirror links files over its copy limit; the child's write guard replaces such a link by a copy before
    a write (truncating or not), so the original never changes."""
    original = tmp_path / "user"
    original.mkdir()
    (original / "big.bin").write_bytes(b"original data")
    (original / "append.bin").write_bytes(b"original data")
    code = f"""
import os, sys
from fitdoctor.capture import scratch
scratch.COPY_FILE_LIMIT = 4
mirror = scratch.build_mirror([{str(original)!r}], {str(tmp_path / "work")!r})
copy = mirror.folders[{str(os.path.realpath(original))!r}]
assert os.path.islink(os.path.join(copy, "big.bin"))
guard = scratch.WriteGuard({str(tmp_path / "work")!r}, [copy], {str(tmp_path)!r})
sys.addaudithook(guard)
guard.active = True
os.chdir(copy)
assert open("big.bin", "rb").read() == b"original data"
open("big.bin", "w").write("new")
open("append.bin", "a").write(" and more")
guard.active = False
assert open("big.bin").read() == "new" and open("append.bin").read() == "original data and more"
print(sorted((w.path, w.change) for w in mirror.changes({str(tmp_path)!r})))
print(guard.recorded())
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (original / "big.bin").read_bytes() == b"original data"
    assert (original / "append.bin").read_bytes() == b"original data"
    assert proc.stdout.splitlines() == [
        "[('user/append.bin', 'modified'), ('user/big.bin', 'modified')]",
        "[]",
    ]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("script", "code", "words"),
    [
        ("meta_device.py", "FD903", "outputs and losses are meta-device tensors"),
        ("sparse_inputs.py", "FD903", "inputs are sparse coo tensors"),
        ("complex_model.py", "FD903", "parameters are complex-valued tensors"),
        ("zero_row_batches.py", "FD902", "only on batches with zero rows"),
    ],
)
def test_tensors_fitdoctor_cant_measure_are_a_clear_finding(script: str, code: str, words: str) -> None:
    run = run_cli("check", str(HARD / script), "--format", "json", "--time-budget", "20")
    assert run.code == 2 and run.report is not None, run.stderr[-2000:]
    assert [(f["code"], words in f["message"]) for f in run.report["findings"]] == [(code, True)]
    assert "fitdoctor/" not in run.stderr and "Traceback" not in run.stderr


@pytest.mark.slow
def test_a_loop_that_swallows_the_stop_is_still_reported() -> None:
    run = run_cli("check", str(HARD / "swallows_the_stop.py"), "--format", "json")
    assert run.code == 0 and run.report is not None, run.stderr[-2000:]
    assert run.report["status"] == "ok" and run.codes("warning") == []
    assert any(n.startswith("stop: the script caught fitdoctor's stop") for n in run.report["training"]["notes"])


@pytest.mark.slow
def test_a_pytorch_warning_is_shown_once_at_the_scripts_line() -> None:
    script = HARD / "broadcast_warning.py"
    run = run_cli("check", str(script), "--format", "json")
    assert run.code == 1 and run.report is not None, run.stderr[-2000:]
    assert run.codes() == ["FD202", "FD602", "FD204", "FD601"]
    warned = [line for line in run.stderr.splitlines() if "UserWarning" in line]
    assert len(warned) == 1 and warned[0].startswith(f"{script}:14: UserWarning: Using a target size")
