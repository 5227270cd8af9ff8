"""FD205 softmax-dim: the rule on evidence built here (no subprocess, several seeds), and the class-axis logic."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fitdoctor.analysis import analyse
from fitdoctor.batches import Batch
from fitdoctor.evidence import Locator
from fitdoctor.rules.softmax_dim import class_axis
from fitdoctor.selection import RuleSelection
from rule_support import setup_of


class _Classifier(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.body = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.body(x), dim=self.dim)


def _report(dim: int, seed: int) -> list[tuple[str, str, str]]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(256, 8, generator=g)
    y = (x @ torch.randn(8, 4, generator=g)).argmax(1)
    torch.manual_seed(seed)
    model = _Classifier(dim)
    batches = [Batch((x[i : i + 64],), {}, y[i : i + 64], (64, 4)) for i in range(0, 256, 64)]
    setup = setup_of(model, batches, "nll_loss", lr=1e-2, seed=seed)
    only = RuleSelection(select=("FD205",))  # the rule alone: no range test, no overfit check
    report = analyse(setup, Locator(), script="<test>", replay_steps=150, rules=only)
    return [(f.code, f.severity, f.confidence) for f in report.findings if f.code == "FD205"]


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fd205_fires_over_the_batch_and_its_twin_does_not(seed: int) -> None:
    assert _report(0, seed) == [("FD205", "error", "confirmed")]
    assert _report(1, seed) == []
    assert _report(-1, seed) == []


@pytest.mark.parametrize(
    ("shape", "loss", "axis"),
    [
        ((64, 4), "nll_loss", 1),
        ((64, 4), "mse_loss", 1),
        ((8, 4, 16), "cross_entropy", 1),
        ((8, 16, 4), "mse_loss", None),
        ((64,), "nll_loss", None),
    ],
)
def test_the_class_axis_is_read_from_the_prediction_shape(shape: tuple[int, ...], loss: str, axis: int | None) -> None:
    assert class_axis(shape, loss) == axis
