"""FD601 loss-not-decreasing: the rule on a small broken setup and its healthy twin, in-process (no script, no subprocess)."""

from __future__ import annotations

import torch
from rule_support import make_setup, mlp, run, sine
from torch import nn


def test_fd601_names_its_root_cause() -> None:
    torch.manual_seed(0)
    x, y = sine(10)
    report = run(make_setup(mlp(nn.ELU, [1, 50, 25, 12, 1]), x, y, lr=0.1, batch=1, steps=200), steps=400)
    codes = [f.code for f in report.findings]
    assert "FD601" in codes
    fd601 = next(f for f in report.findings if f.code == "FD601")
    assert fd601.caused_by, "the symptom names its cause"
    assert codes.index(fd601.caused_by[0]) < codes.index("FD601")
