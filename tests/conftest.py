"""Shared helpers: run the real CLI in a subprocess and parse its JSON report."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fitdoctor.capture.runner import child_environment
from fitdoctor.capture.warm import ENV as WARM_START
from fitdoctor.capture.warm import Zygote

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SCRIPTS = Path(__file__).resolve().parent / "scripts"


@dataclass
class CheckRun:
    """One `fitdoctor check` run: exit code, parsed JSON (when the format is json), and stderr."""

    code: int
    report: dict[str, Any] | None
    stdout: str
    stderr: str

    def codes(self, at_least: str = "info") -> list[str]:
        order = {"error": 0, "warning": 1, "info": 2}
        assert self.report is not None
        return [f["code"] for f in self.report["findings"] if order[f["severity"]] <= order[at_least]]

    def diagnosed(self) -> list[str]:
        """The alarms (warnings and errors) and the confirmed findings they explain, in the report's order."""
        assert self.report is not None
        return [
            f["code"]
            for f in self.report["findings"]
            if f["severity"] != "info" or (f["confidence"] == "confirmed" and f.get("caused_by"))
        ]

    def finding(self, code: str) -> dict[str, Any]:
        assert self.report is not None
        return next(f for f in self.report["findings"] if f["code"] == code)


#: The broken examples (``broken.py``) whose verified fix is a source edit, and the rules their patch fixes
#: (``fitdoctor check --diff``); every other broken example's patch is empty.
PATCHED = {
    "broadcast_target": ["FD202"],
    "data_order": ["FD104"],
    "ddp": ["FD201"],
    "eval_mode_training": ["FD505"],
    "gan": ["FD504"],
    "exploding_gradients": ["FD303"],
    "gelu_final_activation": ["FD201"],
    "hand_written_loss": ["FD202"],
    "hf_trainer": ["FD502"],
    "interpolation_unscaled": ["FD101"],
    "lbfgs": ["FD503"],
    "lightning": ["FD201"],
    "loss_in_forward_dataclass": ["FD501"],
    "loss_in_forward_dict": ["FD201"],
    "lr_too_high": ["FD501"],
    "lr_too_low": ["FD502"],
    "manual_sgd_module": ["FD101"],
    "manual_sgd_tensors": ["FD502"],
    "missing_zero_grad": ["FD503"],
    "nll_without_log_softmax": ["FD203"],
    "params_not_updated": ["FD504"],
    "pretrain_finetune": ["FD504"],
    "quadratic_dying_relu": ["FD501"],
    "relu_logits": ["FD203"],
    "saturated_tanh": ["FD302"],
    "sequence_axis": ["FD206"],
    "sigmoid_bce_with_logits": ["FD203"],
    "sine_elu_lr": ["FD501"],
    "sine_tiny_relu": ["FD303"],
    "softmax_cross_entropy": ["FD203"],
    "softmax_dim": ["FD205"],
    "tiny_init_deep": ["FD303"],
    "torch_func_per_sample": ["FD501"],
    "unregistered_layers": ["FD504"],
    "unscaled_targets": ["FD102"],
    "vae": ["FD201"],
    "zero_init": ["FD303"],
}


def start_cli(
    *args: str, cwd: Path = ROOT, stdin_text: str | None = None, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """Start `python -m fitdoctor ARGS` without waiting (see :func:`run_cli`); :func:`finish_cli` collects it."""
    env = dict(os.environ if env is None else env)
    env.pop("OMP_NUM_THREADS", None)
    return subprocess.Popen(
        [sys.executable, "-m", "fitdoctor", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.PIPE if stdin_text is not None else subprocess.DEVNULL,
        text=True,
        env=env,
    )


def finish_cli(proc: subprocess.Popen[str], timeout: float = 300, stdin_text: str | None = None) -> CheckRun:
    """Wait for a run from :func:`start_cli` and parse stdout as JSON when `--format json` was given."""
    try:
        stdout, stderr = proc.communicate(stdin_text, timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    args = proc.args if isinstance(proc.args, list) else []
    report = None
    if "json" in args and stdout.strip().startswith("{"):
        report = json.loads(stdout)
    return CheckRun(proc.returncode, report, stdout, stderr)


def run_cli(
    *args: str, cwd: Path = ROOT, timeout: float = 300, stdin_text: str | None = None, env: dict[str, str] | None = None
) -> CheckRun:
    """Run `python -m fitdoctor ARGS` and parse stdout as JSON when `--format json` was given.

    fitdoctor's own stdin is empty, or a pipe holding ``stdin_text``; its environment is ours (or ``env``).
    """
    return finish_cli(start_cli(*args, cwd=cwd, stdin_text=stdin_text, env=env), timeout, stdin_text)


def start_hanging_check(*options: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], int]:
    """Start ``fitdoctor check`` on a script that prints its pid and then hangs before training; returns the
    check's process, once the script runs, and the script's pid."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "fitdoctor", "check", str(SCRIPTS / "hardening" / "prints_pid_then_hangs.py"), *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert proc.stderr is not None
    line = ""
    while not line.startswith("pid "):
        line = proc.stderr.readline()
        assert line, "the script never printed its pid"
    return proc, int(line.split()[1])


def process_alive(pid: int) -> bool:
    """Whether a process runs (a zombie counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return False


def expected_codes(script: Path) -> list[str]:
    """The codes in the script's `Expected:` docstring line (empty for `Expected: none`)."""
    match = re.search(r"^Expected:\s*(.+)$", script.read_text(encoding="utf-8"), re.M)
    assert match, f"{script} has no Expected: line"
    return re.findall(r"FD\d{3}", match.group(1))


#: Examples the tests check with a fixed capture and the full analysis (``--replay-steps`` turns the planning from
#: the captured steps' time off), so that their verdict doesn't depend on how busy the machine is. The tiny BERT
#: of hf_trainer takes about 12 ms a step: its capture ends at 150 or 200 steps on CPU time and its analysis was
#: scaled to 66-100 range-test steps by wall time, and its range test (a loss that only starts to fall after
#: ~100 steps at any rate) suggested 2e-4 to 4e-3 across those lengths, of which 4e-3 sometimes fails to learn.
PINNED = {"hf_trainer": ["--steps", "200", "--replay-steps", "400"]}


def check_args(script: Path) -> list[str]:
    """Options the example is checked with, from its `Check with:` docstring line (e.g. `--stage 2`), and the
    tests' own pins (:data:`PINNED`)."""
    match = re.search(r"^Check with:\s*(.+)$", script.read_text(encoding="utf-8"), re.M)
    return (shlex.split(match.group(1)) if match else []) + PINNED.get(script.parent.name, [])


def skip_without_frameworks(script: Path) -> None:
    """Skip an example that needs a framework extra (Lightning, transformers) that is not installed."""
    text = script.read_text(encoding="utf-8")
    for module in ("pytorch_lightning", "lightning", "transformers"):
        if re.search(rf"^(import|from) {module}\b", text, re.M):
            pytest.importorskip(module, reason=f"{script.parent.name} needs the frameworks extra")


@pytest.fixture(scope="session", autouse=True)
def warm_start() -> Iterator[Zygote | None]:
    """One zygote per test process (:mod:`fitdoctor.capture.warm`): the checks the tests start fork their
    child from it instead of importing torch each time. Tests marked ``cold`` start fresh children, as a
    check does by default; so does every check when ``FITDOCTOR_COLD_TESTS`` is set."""
    if os.environ.get("FITDOCTOR_COLD_TESTS"):
        yield None
        return
    # the environment a check started by start_cli gives its child, with the default seed
    base = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    with Zygote(child_environment(base, 0)) as zygote:
        yield zygote


@pytest.fixture(autouse=True)
def _cold_start(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("cold"):
        monkeypatch.delenv(WARM_START, raising=False)


@pytest.fixture(scope="session")
def check_json() -> Any:
    """Cached `fitdoctor check --format json` runs, so several tests can read one run."""
    cache: dict[tuple[str, ...], CheckRun] = {}

    def run(script: Path, *extra: str) -> CheckRun:
        key = (str(script), *extra)
        if key not in cache:
            cache[key] = run_cli("check", str(script), "--format", "json", *extra)
        return cache[key]

    return run


#: Tests that take a large share of the suite (measured with ``--durations``: each 15–60 s on 2 cores). They run
#: first, so that the two xdist workers share them instead of one worker finishing a long one while the other
#: idles at the end (longest-first scheduling); the order of everything else is unchanged.
LONGEST_FIRST = (
    "hf_trainer/",
    "test_a_100m_parameter_model",
    "test_hung_scripts_are_stopped",
    "lightning/",
    "vae/",
    "torch_func_per_sample/",
    "tiny_init_deep/",
    "lbfgs/",
    "test_the_plain_diff_is_what_patch",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the longest tests first (see :data:`LONGEST_FIRST`)."""
    rank = {key: i for i, key in enumerate(LONGEST_FIRST)}

    def order(item: pytest.Item) -> int:
        return min((rank[key] for key in LONGEST_FIRST if key in item.nodeid), default=len(LONGEST_FIRST))

    items.sort(key=order)  # stable: the rest keep their collection order
