"""Rules that read the captured setup itself, in-process: FD202 loss-shape-mismatch, FD203
loss-activation-mismatch, FD303 poor-initialization and FD501 learning-rate-too-high. Each sees the evidence of a
healthy setup with one part of its setup changed; the healthy evidence itself raises none of them."""

from __future__ import annotations

import dataclasses

import pytest

from fitdoctor.evidence import Evidence
from fitdoctor.probes.lr_range import RangeTest
from fitdoctor.training import LossSpec
from rule_support import healthy_evidence, suspects, threshold

CODES = ("FD202", "FD203", "FD303", "FD501")


def codes(code: str, ev: Evidence) -> list[str]:
    return [s.code for s in suspects(code, ev)]


def with_setup(**changes: object) -> Evidence:
    ev = healthy_evidence()
    return dataclasses.replace(ev, setup=dataclasses.replace(ev.setup, **changes))  # type: ignore[arg-type]


def test_the_healthy_evidence_raises_none_of_them() -> None:
    assert [c for code in CODES for c in codes(code, healthy_evidence())] == []


def test_fd202_a_target_that_broadcasts_against_the_prediction() -> None:
    batches = [dataclasses.replace(b, target=b.target.reshape(-1)) for b in healthy_evidence().setup.batches]
    found = suspects("FD202", with_setup(batches=batches))
    assert [s.code for s in found] == ["FD202"] and found[0].proof
    n = batches[0].target.shape[0]
    assert found[0].evidence["broadcast_shape"] == [n, n]
    same = [dataclasses.replace(b, target=b.target.reshape(-1, 1)) for b in batches]
    assert codes("FD202", with_setup(batches=same)) == []


def test_fd203_cross_entropy_over_one_output_unit() -> None:
    found = suspects("FD203", with_setup(loss=LossSpec("cross_entropy", {})))
    assert [s.code for s in found] == ["FD203"] and found[0].evidence["output_units"] == 1


@pytest.mark.parametrize("factor", [0.5, 2.0])
def test_fd303_weights_far_from_their_fan_in_scale(factor: float) -> None:
    ev = healthy_evidence()
    scale = threshold("FD303", "weight_std_ratio") * factor * 3  # the healthy init sits near 1/sqrt(3) of LeCun's
    state = {k: v * scale if k.endswith("weight") else v for k, v in ev.setup.initial_state.items()}
    assert codes("FD303", with_setup(initial_state=state)) == (["FD303"] if factor > 1 else [])


@pytest.mark.parametrize("factor", [0.5, 2.0])
def test_fd501_a_rate_far_above_the_range_tests_suggestion(factor: float) -> None:
    ev = healthy_evidence()
    lr = ev.setup.lr
    assert lr is not None
    suggested = lr / (threshold("FD501", "lr_ratio") * factor)
    rt = RangeTest(lrs=[lr], losses=[1.0], best_lr=suggested * 10, suggested_lr=suggested, diverged_at=None)
    assert codes("FD501", dataclasses.replace(ev, lr_range=rt)) == (["FD501"] if factor > 1 else [])
