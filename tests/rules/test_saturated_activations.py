"""FD302 saturated-activations: the rule on a small broken setup and its healthy twin, in-process (no script, no subprocess)."""

from __future__ import annotations

import torch
from torch import nn

from rule_support import make_setup, mlp, run, sine, warnings_of


def test_fd302_saturation_after_training_and_twin() -> None:
    torch.manual_seed(0)
    x, y = sine(10)
    model = mlp(nn.Tanh, [1, 50, 25, 12, 1])
    report = run(make_setup(model, x, y, lr=0.1, batch=1, steps=200), steps=400)
    assert "FD302" in warnings_of(report)
    f = next(f for f in report.findings if f.code == "FD302")
    assert f.evidence["saturated_share_after"] > f.evidence["saturated_share_init"]
    assert f.fix is not None and f.fix.verified and "learning rate" in f.fix.title
    torch.manual_seed(0)
    healthy = run(make_setup(mlp(nn.Tanh, [1, 50, 25, 12, 1]), x, y, lr=1e-2), steps=400)
    assert warnings_of(healthy) == []
