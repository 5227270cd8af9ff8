"""When the capture stops: the step budget, the time budget, and the target for slow steps (issue 15)."""

from __future__ import annotations

import math

import pytest

from conftest import SCRIPTS, run_cli
from fitdoctor.capture.budget import CAPTURE_TARGET_S, MIN_CAPTURE_STEPS, CaptureBudget


def test_the_step_budget_stops_first() -> None:
    budget = CaptureBudget(200, 30.0, CAPTURE_TARGET_S)
    assert budget.reached(200, 1.0, 0.9) == "step budget of 200 steps reached"
    assert budget.reached(199, 1.0, 0.9) is None


def test_the_time_budget_stops_after_any_number_of_steps() -> None:
    assert CaptureBudget(200, 30.0).reached(3, 30.5, 29.0) == "time budget of 30 s reached after 3 steps"


@pytest.mark.parametrize(
    ("steps", "cpu_seconds", "stops"), [(49, 100.0, False), (50, 2.9, False), (50, 3.0, True), (51, 9.0, False)]
)
def test_the_target_stops_at_a_multiple_of_its_steps_once_their_cpu_time_is_spent(
    steps: int, cpu_seconds: float, stops: bool
) -> None:
    assert MIN_CAPTURE_STEPS == 50 and CAPTURE_TARGET_S == 3.0
    reason = CaptureBudget(200, math.inf, CAPTURE_TARGET_S).reached(steps, cpu_seconds + 1, cpu_seconds)
    assert (reason == f"capture target of 3 s of CPU time reached after {steps} steps") is stops
    assert stops or reason is None


def test_without_a_target_only_the_budgets_stop() -> None:
    assert CaptureBudget(200, 30.0).reached(150, 29.0, 28.0) is None


def test_slow_steps_end_the_capture_at_its_target_and_the_report_says_so() -> None:
    script = SCRIPTS / "robust" / "slow_loader.py"
    run = run_cli("check", str(script), "--format", "json", "--quiet")
    assert run.code == 0, run.stderr[-2000:]
    assert run.report is not None
    # Every step spends 0.1 s of CPU, so 50 steps spend at least 4.9 s, past the 3 s target: the capture ends at 50.
    assert run.report["training"]["steps_captured"] == MIN_CAPTURE_STEPS
    assert [f["code"] for f in run.report["findings"]] == []
    notes = [n for n in run.report["training"]["notes"] if n.startswith("capture: ")]
    assert len(notes) == 1 and "captured the first 50 steps" in notes[0] and "`--steps 200`" in notes[0]


def test_steps_the_user_asks_for_are_captured() -> None:
    script = SCRIPTS / "robust" / "slow_loader.py"
    run = run_cli("check", str(script), "--format", "json", "--quiet", "--steps", "60")
    assert run.code == 0, run.stderr[-2000:]
    assert run.report is not None
    assert run.report["training"]["steps_captured"] == 60
    assert not [n for n in run.report["training"]["notes"] if n.startswith("capture: ")]
