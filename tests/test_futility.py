"""Futility stopping: a fix replay that can no longer be verified stops; one that may still be verified runs on."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from fitdoctor.confirm import MIN_IMPROVEMENT, futility_stop
from fitdoctor.futility import MIN_FRACTION, Futility, log_noise
from fitdoctor.replay import replay
from fitdoctor.training import Plan, TrainingSetup
from rule_support import make_setup

STEPS = 400


def _smooth(start: float, end: float) -> list[tuple[int, float]]:
    """A baseline whose loss falls geometrically from ``start`` to ``end`` over the replay, evaluated every 16 steps."""
    return [(s, start * (end / start) ** (s / STEPS)) for s in range(0, STEPS + 1, 16)]


def _rule(curve: list[tuple[int, float]]) -> Futility:
    rule = Futility.against(curve, curve[-1][1], STEPS, MIN_IMPROVEMENT)
    assert rule is not None
    return rule


def _first_stop(rule: Futility, curve: list[tuple[int, float]]) -> int | None:
    return next((curve[i][0] for i in range(1, len(curve)) if rule.hopeless(curve[: i + 1])), None)


def test_a_fix_that_stays_behind_a_smooth_baseline_stops_once_it_may_stop() -> None:
    rule = _rule(_smooth(2.0, 1.0))
    flat = [(s, 2.0 - 0.0001 * s) for s in range(0, STEPS + 1, 48)]  # barely moving, behind the baseline
    first = min(s for s, _ in flat if s >= MIN_FRACTION * STEPS)
    assert _first_stop(rule, flat) == first


def test_a_fix_behind_but_falling_fast_enough_to_be_verified_runs_on() -> None:
    rule = _rule(_smooth(2.0, 1.0))
    # behind at every point until the last stretch, but halving every 48 steps: it ends far under 0.75
    steep = [(s, 1.95 if s < 192 else 1.95 * 0.5 ** ((s - 144) / 48)) for s in range(0, STEPS + 1, 48)]
    assert _first_stop(rule, steep) is None


def test_a_fix_ahead_of_the_baseline_is_never_stopped() -> None:
    rule = _rule(_smooth(2.0, 1.0))
    ahead = [(s, v * 0.9) for s, v in _smooth(2.0, 1.0)][::3]  # ahead by 10 %: not verified, but not behind
    assert _first_stop(rule, ahead) is None


def test_a_noisy_baseline_stops_nothing_that_the_noise_could_carry_under_the_target() -> None:
    swinging = [(s, 1.6 * (1.3 if (s // 16) % 2 else 0.77)) for s in range(0, STEPS + 1, 16)]
    rule = _rule(swinging)
    assert rule.noise > 0.1
    behind = [(s, 1.7) for s in range(0, STEPS + 1, 48)]
    assert _first_stop(rule, behind) is None
    assert log_noise(_smooth(2.0, 1.0), STEPS) == pytest.approx(0.0, abs=1e-9)


def test_a_fix_that_swings_behind_a_smooth_baseline_runs_on_its_own_noise() -> None:
    """A rate still too high makes a fix's loss jump around (the benchmark's lr_too_high setups): where it lands
    at the last step is luck, so its own noise counts, not only the baseline's."""
    rule = _rule(_smooth(2.0, 1.0))
    swinging = [(s, 2.2 * (2.5 if (s // 48) % 2 else 0.6)) for s in range(0, STEPS + 1, 48)]
    assert _first_stop(rule, swinging) is None
    steady = [(s, 2.2) for s in range(0, STEPS + 1, 48)]  # the same level without the swings stops
    assert _first_stop(rule, steady) is not None


@pytest.mark.parametrize("final", [math.inf, 0.0, -1.0])
def test_nothing_stops_against_a_baseline_that_diverged_or_ends_at_zero(final: float) -> None:
    assert Futility.against([(0, 1.0), (STEPS, final)], final, STEPS, MIN_IMPROVEMENT) is None


def _setup() -> TrainingSetup:
    torch.manual_seed(0)
    x = torch.randn(64, 4)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 1))
    return make_setup(model, x, y, batch=16, steps=5)


def test_a_replay_asked_to_stop_ends_there_and_says_so() -> None:
    setup = _setup()
    batches = setup.batches
    baseline = replay(setup, Plan(), 120, batches)
    stop = futility_stop(baseline, 120)
    assert stop is not None
    # a learning rate a thousand times lower cannot catch up with the baseline's final loss
    slow = Plan(lr_scale=1e-3)
    stopped = replay(setup, slow, 120, batches, thin=3, stop=stop)
    full = replay(setup, slow, 120, batches, thin=3)
    assert stopped.stopped and not full.stopped
    assert MIN_FRACTION * 120 <= stopped.steps < 120 == full.steps
    assert stopped.curve == full.curve[: len(stopped.curve)]  # the same run, cut short: stopping changes nothing
    assert full.final > (1 - MIN_IMPROVEMENT) * baseline.final  # and run to the end it was not verified either
