"""Probe maths against slow, obviously-correct references (the cockpit habit)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fitdoctor.batches import Batch
from fitdoctor.probes.activations import RANGES, derivative_ratio, pretty, probe_activations
from fitdoctor.probes.data import constant_prediction_loss, target_stats
from fitdoctor.probes.trend import block_size, loss_trend
from fitdoctor.snippets import strip_activation
from fitdoctor.training import LossSpec

KINDS = {
    "tanh": (torch.tanh, {}),
    "sigmoid": (torch.sigmoid, {}),
    "elu": (lambda z: F.elu(z, alpha=1.0), {}),
    "selu": (F.selu, {}),
    "gelu": (F.gelu, {}),
    "silu": (F.silu, {}),
    "softplus": (F.softplus, {}),
    "mish": (F.mish, {}),
    "logsigmoid": (F.logsigmoid, {}),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_derivative_ratio_matches_autograd(kind: str) -> None:
    fn, kwargs = KINDS[kind]
    z = torch.linspace(-12, 12, 2001, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(fn(z).sum(), z)
    reference = grad.abs() / grad.abs().max()
    ours = derivative_ratio(kind, z.detach(), (z.detach(),), kwargs)
    assert torch.allclose(ours, reference, atol=2e-3), (ours - reference).abs().max()


@pytest.mark.parametrize("kind", ["gelu", "silu", "mish", "selu"])
def test_range_lower_bounds(kind: str) -> None:
    fn = {"gelu": F.gelu, "silu": F.silu, "mish": F.mish, "selu": F.selu}[kind]
    z = torch.linspace(-20, 5, 200001, dtype=torch.float64)
    assert float(fn(z).min()) == pytest.approx(RANGES[kind][0], abs=1e-4)


def _batches(x: torch.Tensor, y: torch.Tensor, size: int) -> list[Batch]:
    return [
        Batch((x[i : i + size],), {}, y[i : i + size], tuple(y[i : i + size].shape)) for i in range(0, len(x), size)
    ]


def test_dead_units_are_counted_per_unit() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0], [0.0, 0.0]]))
        model[0].bias.copy_(torch.tensor([0.0, 0.0, -1.0, 1.0]))  # unit 2 always dead, unit 3 always live
    x = torch.randn(256, 2)
    y = torch.zeros(256, 1)
    stats, final, order = probe_activations(model, _batches(x, y, 64), 0.01)
    (relu,) = stats
    assert relu.kind == "relu" and relu.units == 4 and relu.observations == 256
    reference = (model[0](x) > 0).double().mean(0)
    assert relu.active_share == pytest.approx(reference.tolist())
    assert relu.active_share[2] == 0.0 and relu.active_share[3] == 1.0
    assert relu.name == "model[1] (ReLU)" and relu.producer == "0" and relu.consumer == "2"
    assert final is None  # the output is affine
    assert order == ["0", "2"]


class _Functional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(1, 8)
        self.fc2 = nn.Linear(8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.fc2(torch.tanh(self.fc1(x)))).squeeze(-1)


def test_functional_activations_and_final_through_a_view() -> None:
    model = _Functional()
    x = torch.randn(32, 1)
    y = torch.rand(32)
    stats, final, _ = probe_activations(model, _batches(x, y, 32), 0.01)
    assert [s.kind for s in stats] == ["tanh", "sigmoid"]
    assert stats[0].name == "tanh after model.fc1"
    assert final is not None and final.kind == "sigmoid" and (final.low, final.high) == (0.0, 1.0)


def test_saturation_share_reference() -> None:
    model = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 1))
    x = torch.linspace(255, 2e5, 100).unsqueeze(1)
    stats, _, _ = probe_activations(model, _batches(x, torch.zeros(100, 1), 50), 0.01)
    z = model[0](x).detach().double()
    reference = ((1 - torch.tanh(z) ** 2) < 0.01).double().mean(0)
    assert stats[0].saturated_share == pytest.approx(reference.tolist())


def test_trend_flat_and_falling() -> None:
    gen = torch.Generator().manual_seed(0)
    noise = torch.rand(200, generator=gen).tolist()
    flat = loss_trend([1.0 + 0.1 * n for n in noise])
    falling = loss_trend([math.exp(-i / 50) + 0.01 * n for i, n in enumerate(noise)])
    assert flat is not None and falling is not None
    assert abs(flat.relative_decrease) < 0.1 and flat.p_value > 0.05
    assert falling.relative_decrease > 0.9 and falling.p_value < 1e-6


def test_block_size_follows_the_data_cycle() -> None:
    assert block_size([i % 10 for i in range(200)]) == 10  # per-sample loop over 10 points
    assert block_size(list(range(200))) == 10  # fresh batches every step: n / 20
    assert block_size([7] * 200) == 1  # full batch


def test_constant_prediction_loss_uses_column_means() -> None:
    y = torch.stack([torch.zeros(100), torch.full((100,), 10.0)], dim=1)
    y[:, 0] += torch.linspace(-1, 1, 100)
    stats = target_stats([Batch((y,), {}, y, tuple(y.shape))])
    assert constant_prediction_loss([], LossSpec("mse_loss", {}), stats) == pytest.approx(
        float(y.var(0, unbiased=False).mean())
    )


@pytest.mark.parametrize(
    ("line", "kind", "expected"),
    [
        ("return F.gelu(self.fc3(x))", "gelu", "return self.fc3(x)"),
        ("x = torch.sigmoid(self.out(x))", "sigmoid", "x = self.out(x)"),
        ("return self.fc(x).relu()", "relu", "return self.fc(x)"),
        ("nn.Linear(4, 1), nn.Tanh(),", "tanh", None),  # a module: nothing to strip on this line
        ("for x in (", "gelu", None),  # not a complete statement
    ],
)
def test_strip_activation(line: str, kind: str, expected: str | None) -> None:
    assert strip_activation(line, kind) == expected


def test_pretty_names() -> None:
    assert pretty("1") == "model[1]"
    assert pretty("net.0") == "model.net[0]"
    assert pretty("fc1") == "model.fc1"
    assert pretty(None) == "model"
