"""The rules that read the facts of the user's loop (FD503 missing-zero-grad, FD504 params-not-updated, FD505
eval-mode-training), in-process: each sees the evidence of a healthy setup with only its loop facts changed,
on both sides of its catalogued threshold."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from fitdoctor.evidence import Evidence
from fitdoctor.summary import LoopSummary
from rule_support import healthy_evidence, suspects, threshold

STEPS = 200


def with_loop(**facts: Any) -> Evidence:
    return dataclasses.replace(healthy_evidence(), loop=LoopSummary(steps_captured=STEPS, **facts))


def test_the_healthy_loop_raises_none_of_them() -> None:
    ev = with_loop(single_backward_steps=STEPS)
    assert [s for code in ("FD503", "FD504", "FD505") for s in suspects(code, ev)] == []


@pytest.mark.parametrize("above", [False, True])
def test_fd503_stale_gradients_beyond_the_share(above: bool) -> None:
    share = threshold("FD503", "stale_step_share")
    stale = math.floor(share * STEPS) + (1 if above else 0)
    found = suspects("FD503", with_loop(stale_gradient_steps=stale, single_backward_steps=STEPS))
    assert [s.code for s in found] == (["FD503"] if above else [])
    if above:
        assert found[0].proof and [c.id for c in found[0].candidates] == ["zero-grad"]


def test_fd503_needs_single_backward_steps() -> None:
    # With several backward calls per step (accumulation) staleness is intended: nothing measurable.
    assert suspects("FD503", with_loop(stale_gradient_steps=STEPS, single_backward_steps=0)) == []


def test_fd504_parameters_outside_the_optimizer_and_without_gradient() -> None:
    names = tuple(healthy_evidence().setup.initial_state)
    outside = suspects("FD504", with_loop(params_outside_optimizer=names[:2]))
    assert [s.code for s in outside] == ["FD504"] and "not in the optimizer" in outside[0].message
    no_grad = suspects("FD504", with_loop(params_without_grad=names[:2]))
    assert [s.code for s in no_grad] == ["FD504"] and "never receive a gradient" in no_grad[0].message
    share = threshold("FD504", "stale_param_share")
    few = names[: math.floor(share * len(names))]
    assert suspects("FD504", with_loop(params_outside_optimizer=few)) == []


@pytest.mark.parametrize("above", [False, True])
def test_fd505_eval_mode_steps_beyond_the_share(above: bool) -> None:
    share = threshold("FD505", "eval_step_share")
    steps = math.floor(share * STEPS) + (1 if above else 0)
    found = suspects("FD505", with_loop(eval_mode_steps=steps, mode_dependent_layers=("0.dropout",)))
    assert [s.code for s in found] == (["FD505"] if above else [])


def test_fd505_needs_a_layer_that_behaves_differently() -> None:
    assert suspects("FD505", with_loop(eval_mode_steps=STEPS, mode_dependent_layers=())) == []
