"""FD601 loss-not-decreasing: the rule on a small broken setup and its healthy twin, in-process (no script, no subprocess)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from fitdoctor.evidence import Evidence
from fitdoctor.probes.trend import block_size, loss_trend
from rule_support import healthy_evidence, make_setup, mlp, run, sine, suspects, threshold


def test_fd601_names_its_root_cause() -> None:
    torch.manual_seed(0)
    x, y = sine(10)
    report = run(make_setup(mlp(nn.ELU, [1, 50, 25, 12, 1]), x, y, lr=0.1, batch=1, steps=200), steps=400)
    codes = [f.code for f in report.findings]
    assert "FD601" in codes
    fd601 = next(f for f in report.findings if f.code == "FD601")
    assert fd601.caused_by, "the symptom names its cause"
    assert codes.index(fd601.caused_by[0]) < codes.index("FD601")


def _stuck_at_the_mean(curve: list[float], user: list[float]) -> Evidence:
    """The healthy evidence with a user loop and a baseline replay that both end near the mean-prediction loss."""
    ev = healthy_evidence()
    constant = 1.0
    setup = dataclasses.replace(ev.setup, user_losses=user)
    baseline = dataclasses.replace(ev.baseline, curve=list(enumerate(curve)), final=curve[-1])
    return dataclasses.replace(
        ev,
        setup=setup,
        baseline=baseline,
        constant_loss=constant,
        user_trend=loss_trend(user, block_size([id(b) for b in setup.batches])),
        replay_trend=loss_trend(curve),
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fd601_a_slow_steady_fall_is_an_info_and_a_plateau_is_the_symptom(seed: int) -> None:
    """All stay above ``baseline_share`` of the mean-prediction loss. A loss that still falls steadily over the
    last half (here 4 %, far below ``still_falling``), at a pace that would pass ``baseline_share`` within
    another run, is slow, not stuck: FD601 names the pace and stays unconfirmed. The same level with no trend,
    or with a significant trend of 0.1 % (inching towards a plateau), is the symptom."""
    g = torch.Generator().manual_seed(seed)
    n = 200
    noise = (0.002 * torch.randn(n, generator=g)).tolist()
    creeping = [1.0 - 0.08 * i / n + e for i, e in enumerate(noise)]
    inching = [1.0 - 0.002 * i / n + e / 100 for i, e in enumerate(noise)]  # significant, but on a plateau
    flat = [0.99 + e for e in noise]
    assert creeping[-1] > threshold("FD601", "baseline_share")
    slow = suspects("FD601", _stuck_at_the_mean(creeping, creeping))
    assert len(slow) == 1 and not slow[0].symptom and slow[0].evidence["still_falling_steadily"] is True
    assert slow[0].message.startswith("The loss is going down, but slowly.")
    plateau = suspects("FD601", _stuck_at_the_mean(inching, inching))
    assert loss_trend(inching[n // 2 :]).p_value < threshold("FD601", "trend_p_value")
    assert len(plateau) == 1 and plateau[0].symptom
    stuck = suspects("FD601", _stuck_at_the_mean(flat, flat))
    assert len(stuck) == 1 and stuck[0].symptom and stuck[0].evidence["still_falling_steadily"] is False
    # Slow in the replay but stuck in the user's own loop: the user's loop decides, it is the symptom.
    mixed = suspects("FD601", _stuck_at_the_mean(creeping, flat))
    assert len(mixed) == 1 and mixed[0].symptom


@pytest.mark.parametrize(
    ("loss", "words"),
    [
        ("mse_loss", "the mean target"),
        ("l1_loss", "the median target"),
        ("cross_entropy", "the class prior"),
        ("binary_cross_entropy_with_logits", "the class prior"),
        ("program", "the best constant"),
    ],
)
def test_fd601_names_the_constant_it_compares_with(loss: str, words: str) -> None:
    """The yardstick is the best constant for the loss (yardstick.constant_for): a classifier's is the class
    prior, not "the mean target" as FD601 and FD602 used to say whatever the loss."""
    ev = _stuck_at_the_mean([0.99] * 200, [0.99] * 200)
    ev = dataclasses.replace(
        ev, setup=dataclasses.replace(ev.setup, loss=dataclasses.replace(ev.setup.loss, name=loss))
    )
    (found,) = suspects("FD601", ev)
    assert f"Predicting {words} for every input scores 1" in found.message
