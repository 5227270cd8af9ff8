"""Rules that judge one measured fact, in-process: FD102 unscaled-targets, FD103 nonfinite-data, FD204
collapsed-output, FD402 exploding-gradients, FD502 learning-rate-too-low and FD602 cannot-overfit-batch. Each
sees the evidence of a healthy setup with only the facts it reads changed, on both sides of its catalogued
threshold; the healthy evidence itself raises none of them."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from fitdoctor.evidence import Evidence
from fitdoctor.probes.data import NonFinite, target_stats
from fitdoctor.probes.lr_range import RangeTest
from fitdoctor.probes.overfit import OverfitResult
from rule_support import healthy_evidence, suspects, threshold

CODES = ("FD102", "FD103", "FD204", "FD402", "FD502", "FD602")


def codes(code: str, ev: Evidence) -> list[str]:
    return [s.code for s in suspects(code, ev)]


def test_the_healthy_evidence_raises_none_of_them() -> None:
    assert [c for code in CODES for c in codes(code, healthy_evidence())] == []


@pytest.mark.parametrize("factor", [0.5, 2.0])
def test_fd102_targets_beyond_the_scale(factor: float) -> None:
    ev = healthy_evidence()
    limit = threshold("FD102", "target_scale")
    batches = [
        dataclasses.replace(b, target=b.target / b.target.abs().max() * limit * factor) for b in ev.setup.batches
    ]
    scaled = dataclasses.replace(ev, targets=target_stats(batches))
    assert codes("FD102", scaled) == (["FD102"] if factor > 1 else [])


def test_fd103_any_nonfinite_value() -> None:
    ev = healthy_evidence()
    found = NonFinite(input_values=3, target_values=0, features=[0], batches=[0], total_values=256)
    assert codes("FD103", dataclasses.replace(ev, nonfinite=found)) == ["FD103"]
    clean = NonFinite(input_values=0, target_values=0, features=[], batches=[], total_values=256)
    assert codes("FD103", dataclasses.replace(ev, nonfinite=clean)) == []


@pytest.mark.parametrize("factor", [0.5, 2.0])
def test_fd204_prediction_spread_below_the_share(factor: float) -> None:
    ev = healthy_evidence()
    share = threshold("FD204", "relative_spread")
    trained = dataclasses.replace(ev.trained, spread=(share * factor, 1.0))
    assert codes("FD204", dataclasses.replace(ev, trained=trained)) == (["FD204"] if factor < 1 else [])


@pytest.mark.parametrize("factor", [0.5, 2.0])
def test_fd402_gradient_norm_growth(factor: float) -> None:
    ev = healthy_evidence()
    growth = threshold("FD402", "grad_norm_growth") * factor
    baseline = dataclasses.replace(ev.baseline, grad_norms=[1.0, growth, 1.0], diverged=False)
    assert codes("FD402", dataclasses.replace(ev, baseline=baseline)) == (["FD402"] if factor > 1 else [])


def test_fd402_a_diverged_replay() -> None:
    ev = healthy_evidence()
    baseline = dataclasses.replace(ev.baseline, grad_norms=[1.0, 1.0], diverged=True)
    assert codes("FD402", dataclasses.replace(ev, baseline=baseline)) == ["FD402"]


@pytest.mark.parametrize(
    ("lr_factor", "update_factor", "expected"), [(2.0, 0.5, True), (0.5, 0.5, False), (2.0, 2.0, False)]
)
def test_fd502_needs_both_a_far_higher_suggestion_and_tiny_updates(
    lr_factor: float, update_factor: float, expected: bool
) -> None:
    ev = healthy_evidence()
    lr = ev.setup.lr
    assert lr is not None
    suggested = lr * threshold("FD502", "lr_ratio") * lr_factor
    update = threshold("FD502", "update_ratio") * update_factor
    rt = RangeTest(lrs=[lr], losses=[1.0], best_lr=suggested * 10, suggested_lr=suggested, diverged_at=None)
    baseline = dataclasses.replace(ev.baseline, update_ratios=[update] * 5)
    slow = dataclasses.replace(ev, lr_range=rt, baseline=baseline)
    assert codes("FD502", slow) == (["FD502"] if expected else [])


@pytest.mark.parametrize(
    ("best_share", "still_falling", "expected"), [(2.0, 0.0, True), (0.5, 0.0, False), (2.0, 2.0, False)]
)
def test_fd602_a_batch_the_network_cannot_memorise(best_share: float, still_falling: float, expected: bool) -> None:
    ev = healthy_evidence()
    best = threshold("FD602", "overfit_share") * best_share
    tail = threshold("FD602", "still_falling") * still_falling
    run = OverfitResult(
        samples=8, steps=100, lr=1e-3, start=1.0, best=best, baseline=1.0, optimizer="Adam", tail_decrease=tail
    )
    assert codes("FD602", dataclasses.replace(ev, overfit=run)) == (["FD602"] if expected else [])


def test_rules_leave_the_shared_evidence_as_it_was() -> None:
    before = [b.target.clone() for b in healthy_evidence().setup.batches]
    test_fd102_targets_beyond_the_scale(2.0)
    assert all(torch.equal(a, b.target) for a, b in zip(before, healthy_evidence().setup.batches, strict=True))
