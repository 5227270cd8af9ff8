"""Rules that read the captured setup itself, in-process: FD202 loss-shape-mismatch, FD203
loss-activation-mismatch, FD303 poor-initialization and FD501 learning-rate-too-high. Each sees the evidence of a
healthy setup with one part of its setup changed; the healthy evidence itself raises none of them."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from torch import nn

from fitdoctor.analysis import analyse
from fitdoctor.batches import Batch
from fitdoctor.evidence import Evidence, Locator
from fitdoctor.probes.lr_range import RangeTest
from fitdoctor.selection import RuleSelection
from fitdoctor.training import LossSpec
from rule_support import healthy_evidence, setup_of, suspects, threshold

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
def test_fd303_regression_predictions_far_wider_than_the_targets_at_init(factor: float) -> None:
    ev = healthy_evidence()
    assert ev.targets is not None and ev.init.output is not None
    target_std = math.sqrt(ev.targets.column_variance)
    assert target_std < 1  # sin(x): the floor of 1 is the scale
    spread = threshold("FD303", "init_output_ratio") * factor
    wide = dataclasses.replace(ev, init=dataclasses.replace(ev.init, output=(ev.init.output[0], spread)))
    found = suspects("FD303", wide)
    assert [s.code for s in found] == (["FD303"] if factor > 1 else [])
    if found:
        assert found[0].evidence["init_output_std"] == spread


@pytest.mark.parametrize("factor", [0.5, 2.0])
def test_fd501_a_rate_far_above_the_range_tests_suggestion(factor: float) -> None:
    ev = healthy_evidence()
    lr = ev.setup.lr
    assert lr is not None
    suggested = lr / (threshold("FD501", "lr_ratio") * factor)
    rt = RangeTest(lrs=[lr], losses=[1.0], best_lr=suggested * 10, suggested_lr=suggested, diverged_at=None)
    assert codes("FD501", dataclasses.replace(ev, lr_range=rt)) == (["FD501"] if factor > 1 else [])


def _classifier_report(final: nn.Module | None, loss: str, seed: int) -> list[tuple[str, str]]:
    """FD203 alone on a 10-class (or, for BCE with logits, one-logit) MLP whose output ends in ``final``."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(512, 20, generator=g)
    scores = x[:, :10] @ torch.randn(10, 10, generator=g)
    binary = loss == "binary_cross_entropy_with_logits"
    y = (scores[:, :1] > 0).float() if binary else scores.argmax(1)
    torch.manual_seed(seed)
    layers = [nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 1 if binary else 10), *([final] if final else [])]
    model = nn.Sequential(*layers)
    batches = [Batch((x[i : i + 64],), {}, y[i : i + 64], (64, 1 if binary else 10)) for i in range(0, 512, 64)]
    setup = setup_of(model, batches, loss, lr=1e-3, seed=seed)
    report = analyse(setup, Locator(), script="<test>", replay_steps=150, rules=RuleSelection(select=("FD203",)))
    return [(f.code, f.message) for f in report.findings]


@pytest.mark.parametrize("seed", [0, 1])
def test_fd203_a_final_activation_that_bounds_the_logits(seed: int) -> None:
    relu = _classifier_report(nn.ReLU(), "cross_entropy", seed)
    assert [c for c, _ in relu] == ["FD203"] and "clips every logit cross_entropy receives at 0" in relu[0][1]
    (tanh,) = _classifier_report(nn.Tanh(), "cross_entropy", seed)
    # Logits in [-1, 1] over 10 classes: the true class's probability can't exceed e / (e + 9 / e) = 0.451.
    floor = math.log1p(9 * math.exp(-2))
    assert tanh[0] == "FD203" and f"a loss floor of {floor:.3g}" in tanh[1]
    (bce,) = _classifier_report(nn.ReLU(), "binary_cross_entropy_with_logits", seed)
    assert "no input is ever predicted negative" in bce[1]
    # The twins: raw logits, and a final activation whose lower tail is soft (not judged).
    assert _classifier_report(None, "cross_entropy", seed) == []
    assert _classifier_report(nn.GELU(), "cross_entropy", seed) == []
