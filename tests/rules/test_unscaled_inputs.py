"""FD101 unscaled-inputs: the rule on a small broken setup and its healthy twin, in-process (no script, no subprocess)."""

from __future__ import annotations

import torch
from torch import nn

from rule_support import make_setup, mlp, run, warnings_of


def test_fd101_unscaled_inputs_and_twin() -> None:
    torch.manual_seed(0)
    x = torch.linspace(255, 200000, 200).unsqueeze(1)
    y = torch.sin(x / 30000)
    report = run(make_setup(mlp(nn.Tanh, [1, 32, 1]), x, y))
    assert warnings_of(report)[0] == "FD101"
    fd101 = report.findings[0]
    assert fd101.fix is not None and fd101.fix.verified and fd101.confidence == "confirmed"
    torch.manual_seed(0)
    xs = (x - x.mean()) / x.std()
    assert warnings_of(run(make_setup(mlp(nn.Tanh, [1, 32, 1]), xs, y))) == []
