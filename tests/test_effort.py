"""The analysis effort: full for a model that fits the budget, scaled down (and said so) for one that does not."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import fitdoctor
from fitdoctor.effort import (
    CAPTURE_MULTIPLE,
    DEFAULT_SECONDS,
    FLOOR_SECONDS,
    MIN_BATCHES,
    MIN_EVAL_BATCHES,
    MIN_REPLAY_STEPS,
    Effort,
    analysis_budget,
    measure_step,
    plan_effort,
)
from rule_support import make_setup

DEFAULTS = Effort(replay_steps=400, probe_batches=64, grad_batches=16, range_steps=100, overfit=True)


def test_a_cheap_model_gets_the_full_analysis() -> None:
    effort = plan_effort(DEFAULTS, step_s=0.001, forward_s=0.0003, seconds=120, overfit_steps=200, overfit_runs=4)
    assert (effort.replay_steps, effort.probe_batches, effort.range_steps, effort.overfit) == (400, 64, 100, True)
    assert not effort.scaled and effort.note(DEFAULTS, 120) is None


def test_a_slow_model_is_scaled_to_fit_and_the_note_says_what_changed() -> None:
    # 50 ms a step: the full analysis would take about 110 s.
    full = DEFAULTS.estimate(0.05, 0.015, 200, 4)
    assert full > 60
    effort = plan_effort(DEFAULTS, step_s=0.05, forward_s=0.015, seconds=60, overfit_steps=200, overfit_runs=4)
    assert effort.scaled and effort.estimate(0.05, 0.015, 200, 4) <= 60
    assert MIN_REPLAY_STEPS <= effort.replay_steps < 400 and MIN_BATCHES <= effort.probe_batches < 64
    note = effort.note(DEFAULTS, 60)
    assert note is not None and "one training step takes 0.05 s" in note
    assert f"replays of {effort.replay_steps} steps (not 400)" in note


def test_evaluation_batches_are_given_up_before_replay_steps() -> None:
    # A model whose forward pass is dear next to its step (a CNN evaluated on 64 batches at 25 points): the
    # evaluation alone is over the budget's margin, so it shrinks and every replay keeps its 400 steps.
    full = DEFAULTS.estimate(0.004, 0.004, 300, 4)
    seconds = 0.8 * full
    effort = plan_effort(DEFAULTS, step_s=0.004, forward_s=0.004, seconds=seconds, overfit_steps=300, overfit_runs=4)
    assert effort.scaled and effort.estimate(0.004, 0.004, 300, 4) <= seconds
    assert effort.replay_steps == 400 and effort.points == DEFAULTS.points and effort.range_steps == 100
    assert MIN_EVAL_BATCHES <= effort.probe_batches < 64
    # the most batches that fit: one more would not
    assert (
        Effort(**{**vars(effort), "probe_batches": effort.probe_batches + 1}).estimate(0.004, 0.004, 300, 4) > seconds
    )
    note = effort.note(DEFAULTS, seconds)
    assert note is not None and f"on {effort.probe_batches} batches (not up to 64)" in note and "replays of" not in note


def test_the_budget_follows_the_captured_steps_between_a_floor_and_a_cap() -> None:
    assert analysis_budget(0.3) == FLOOR_SECONDS  # a small model: the full analysis costs less than the floor
    assert analysis_budget(30.0) == 30.0 * CAPTURE_MULTIPLE
    assert analysis_budget(1000.0) == DEFAULT_SECONDS
    assert analysis_budget(1000.0, cap=60.0) == 60.0


def test_at_the_floors_the_overfit_check_goes_first_then_the_range_test() -> None:
    # A second a step: even the floors don't fit 40 s.
    effort = plan_effort(DEFAULTS, step_s=1.0, forward_s=0.3, seconds=40, overfit_steps=200, overfit_runs=4)
    assert (effort.replay_steps, effort.probe_batches) == (MIN_REPLAY_STEPS, MIN_BATCHES)
    assert not effort.overfit and effort.range_steps == 0
    note = effort.note(DEFAULTS, 40)
    assert note is not None and "no overfit-one-batch check" in note and "no learning-rate range test" in note


def test_scaling_down_never_turns_on_a_probe_the_rules_did_not_ask_for() -> None:
    # A selection without the range test and the overfit check (e.g. --select FD2) on a slow model.
    selected = Effort(replay_steps=400, probe_batches=64, grad_batches=16, range_steps=0, overfit=False)
    effort = plan_effort(selected, step_s=0.05, forward_s=0.015, seconds=30, overfit_steps=0, overfit_runs=4)
    assert effort.scaled and effort.range_steps == 0 and not effort.overfit
    note = effort.note(selected, 30)
    assert note is not None and "range test" not in note and "overfit" not in note


def test_measure_step_times_a_step_and_leaves_the_setup_untouched() -> None:
    torch.manual_seed(0)
    x = torch.randn(64, 4)
    setup = make_setup(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1)), x, x.sum(1, keepdim=True), steps=1)
    before = {k: v.clone() for k, v in setup.model.state_dict().items()}
    step_s, forward_s, start_s = measure_step(setup)
    assert step_s > 0 and forward_s > 0 and start_s > 0
    assert all(torch.equal(before[k], v) for k, v in setup.model.state_dict().items())


def test_a_replay_length_the_user_sets_turns_the_planning_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """``replay_steps=`` (``--replay-steps``) gets the full analysis whatever a step costs: a CI gate measures
    the same on a busy machine as on an idle one. Without it, the same costs scale the analysis down."""
    assert analysis_budget(50.0, planned=False) == math.inf
    # a step as slow as a 100M-parameter model's, whatever this machine measures
    monkeypatch.setattr("fitdoctor.analysis.measure_step", lambda setup: (1.0, 0.3, 0.0))
    monkeypatch.setattr("fitdoctor.analysis.calibrated", lambda step_s, forward_s, captured: (step_s, forward_s))
    torch.manual_seed(0)
    x = torch.randn(64, 3)
    y = x.sum(1, keepdim=True)

    def model() -> nn.Module:
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))

    planned = fitdoctor.check(model(), (x, y), steps=20, batch_size=16, select=["FD1"])
    assert planned.training is not None and planned.training.replay is not None
    assert [n for n in planned.training.notes if n.startswith("effort:")]
    assert planned.training.replay.steps < 200
    full = fitdoctor.check(model(), (x, y), steps=20, replay_steps=40, batch_size=16, select=["FD1"])
    assert full.training is not None and full.training.replay is not None
    assert not [n for n in full.training.notes if n.startswith("effort:")]
    assert full.training.replay.steps == 40
