"""FD201 output-range-mismatch: the rule on a small broken setup and its healthy twin, in-process (no script, no subprocess)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rule_support import make_setup, mlp, run, warnings_of


class _FinalGelu(nn.Module):
    def __init__(self, final: bool) -> None:
        super().__init__()
        self.body = mlp(nn.GELU, [1, 32, 32, 1])
        self.final = final

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return F.gelu(out) if self.final else out


def test_fd201_output_range_and_twin() -> None:
    torch.manual_seed(0)
    x = torch.linspace(-2, 2, 128).unsqueeze(1)
    y = torch.exp(x) * x - 10
    report = run(make_setup(_FinalGelu(True), x, y))
    assert "FD201" in warnings_of(report)
    f = next(f for f in report.findings if f.code == "FD201")
    assert f.severity == "error" and f.fix is not None and f.fix.verified
    assert f.evidence["range"][0] == pytest.approx(-0.17, abs=1e-2)
    torch.manual_seed(0)
    assert warnings_of(run(make_setup(_FinalGelu(False), x, y))) == []
