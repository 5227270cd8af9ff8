"""Property-based: whatever tensors reach fitdoctor.check, it reports or raises UsageError — nothing else."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import fitdoctor

ODDITIES = [
    "none",
    "none",
    "none",
    "x_nan",
    "y_nan",
    "x_inf",
    "x_huge",
    "y_huge",
    "x_int",
    "x_half",
    "y_bool",
    "x_scalar",
    "y_scalar",
    "mismatch",
    "empty",
    "x_3d",
    "y_wide",
    "x_zeros",
    "y_constant",
]


def _setup(n: int, features: int, loss: str, oddity: str, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=g)
    if loss == "cross_entropy":
        y = torch.randint(0, 2, (n,), generator=g)
    elif loss == "bce_with_logits":
        y = torch.randint(0, 2, (n, 1), generator=g).float()
    else:
        y = x[:, :1] * 2 + 0.1 * torch.randn(n, 1, generator=g)
    changes = {
        "x_nan": lambda: (x.masked_fill(torch.rand(x.shape, generator=g) < 0.3, float("nan")), y),
        "y_nan": lambda: (x, y.float().masked_fill(torch.rand(y.shape, generator=g) < 0.3, float("nan"))),
        "x_inf": lambda: (x * float("inf"), y),
        "x_huge": lambda: (x * 1e30, y),
        "y_huge": lambda: (x, y.float() * 1e30),
        "x_int": lambda: ((x * 10).long(), y),
        "x_half": lambda: (x.half(), y),
        "y_bool": lambda: (x, y > 0),
        "x_scalar": lambda: (torch.tensor(1.0), y),
        "y_scalar": lambda: (x, torch.tensor(1.0)),
        "mismatch": lambda: (x, torch.cat([y, y[:1]]) if len(y) else y),
        "empty": lambda: (x[:0], y[:0]),
        "x_3d": lambda: (x.unsqueeze(1), y),
        "y_wide": lambda: (x, torch.cat([y.float().reshape(n, -1)] * 3, dim=1)),
        "x_zeros": lambda: (x * 0, y),
        "y_constant": lambda: (x, torch.zeros_like(y)),
    }
    return changes.get(oddity, lambda: (x, y))()


@pytest.mark.slow
# The "y_wide" oddity broadcasts on purpose; PyTorch says so once, from its own loss module.
@pytest.mark.filterwarnings("ignore:Using a target size")
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 48),
    features=st.integers(1, 4),
    loss=st.sampled_from(["mse", "l1", "huber", "cross_entropy", "bce_with_logits"]),
    oddity=st.sampled_from(ODDITIES),
    seed=st.integers(0, 10),
)
def test_check_reports_or_raises_usage_error(n: int, features: int, loss: str, oddity: str, seed: int) -> None:
    x, y = _setup(n, features, loss, oddity, seed)
    outputs = 2 if loss == "cross_entropy" else 1
    model = nn.Sequential(nn.LazyLinear(8), nn.ReLU(), nn.Linear(8, outputs))
    try:
        report = fitdoctor.check(model, (x, y), loss=loss, steps=3, replay_steps=6)
    except fitdoctor.UsageError as exc:
        assert str(exc)
        return
    assert report.status == "ok"
