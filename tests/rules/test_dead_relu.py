"""FD301 dead-relu: the rule on a small broken setup and its healthy twin, in-process (no script, no subprocess)."""

from __future__ import annotations

import torch
from rule_support import make_setup, mlp, run, sine, warnings_of
from torch import nn


def test_fd301_dead_relu_and_twin() -> None:
    torch.manual_seed(0)
    x, y = sine()
    model = mlp(nn.ReLU, [1, 16, 1])
    with torch.no_grad():
        model[0].bias.fill_(-10.0)  # every unit is off for x in [-pi, pi]
    report = run(make_setup(model, x, y))
    assert "FD301" in warnings_of(report)
    f = next(f for f in report.findings if f.code == "FD301")
    assert f.evidence["dead_share_init"] == 1.0
    assert f.fix is not None and f.fix.verified
    torch.manual_seed(0)
    assert warnings_of(run(make_setup(mlp(nn.ReLU, [1, 64, 1]), x, y))) == []


class _Tiny(nn.Module):
    def __init__(self, hidden: int, keras_init: bool) -> None:
        super().__init__()
        self.hidden = nn.Linear(1, hidden)
        self.out = nn.Linear(hidden, 1)
        for layer in (self.hidden, self.out):
            if keras_init:
                nn.init.uniform_(layer.weight, -0.05, 0.05)
                nn.init.uniform_(layer.bias, -0.05, 0.05)
            else:
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
                nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.hidden(x)))


def test_fd301_collapsed_units_count_as_lost_and_twin() -> None:
    """DEVELOPERS.md case 5: survivors of a tiny init collapse onto one kink."""
    x, y = sine(100)
    torch.manual_seed(2)
    report = run(make_setup(_Tiny(4, True), x, y, lr=1e-2), steps=400)
    f = next(f for f in report.findings if f.code == "FD301")
    assert f.severity == "warning"
    assert f.evidence["duplicate_share_after"] > 0
    assert f.evidence["effective_units_after"] <= 2
    assert f.fix is not None and f.fix.verified and f.fix.id == "widen-he-init"
    torch.manual_seed(2)
    assert [f.code for f in run(make_setup(_Tiny(64, False), x, y, lr=1e-2), steps=400).findings] == []
