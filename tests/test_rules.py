"""Each rule on a small broken setup and its healthy twin, in-process (no script, no subprocess)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fitdoctor.analysis import analyse
from fitdoctor.batches import Batch
from fitdoctor.evidence import Locator
from fitdoctor.findings import Report
from fitdoctor.training import LossSpec, TrainingSetup


def make_setup(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    lr: float = 1e-2,
    optimizer: type[torch.optim.Optimizer] = torch.optim.Adam,
    batch: int | None = None,
    steps: int = 100,
) -> TrainingSetup:
    """A setup as the capture would record it: batches in order, the user's own losses measured."""
    size = batch or len(x)
    batches = [
        Batch((x[i : i + size],), {}, y[i : i + size], tuple(y[i : i + size].shape)) for i in range(0, len(x), size)
    ]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    names = [n for n, _ in model.named_parameters()]
    setup = TrainingSetup(
        model, state, optimizer, [{"lr": lr, "params": names}], LossSpec("mse_loss", {}), batches, [], seed=0
    )
    # The user's loop: train a copy and record its losses, as the capture does.
    import copy

    trained = copy.deepcopy(model)
    opt = optimizer(trained.parameters(), lr=lr)
    for i in range(steps):
        b = batches[i % len(batches)]
        opt.zero_grad()
        loss = F.mse_loss(trained(*b.args), b.target)
        setup.user_losses.append(float(loss.detach()))
        loss.backward()
        opt.step()
    return setup


def run(setup: TrainingSetup, steps: int = 200) -> Report:
    return analyse(setup, Locator(), script="<test>", replay_steps=steps)


def warnings_of(report: Report) -> list[str]:
    return [f.code for f in report.findings if f.severity in ("error", "warning")]


def sine(n: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.linspace(-math.pi, math.pi, n).unsqueeze(1)
    return x, torch.sin(x)


def mlp(act: Callable[[], nn.Module], widths: list[int], final: nn.Module | None = None) -> nn.Module:
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(widths[:-1]):
        layers += [nn.Linear(a, b), act()]
    layers.append(nn.Linear(widths[-2], widths[-1]))
    if final is not None:
        layers.append(final)
    return nn.Sequential(*layers)


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


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fd401_vanishing_gradients_and_twin(seed: int) -> None:
    """Detection on every seed; the ReLU + He fix lowers the loss on every seed (whether it clears the 25 %
    verification bar within 200 SGD steps depends on the seed, so that is tested on the CLI example)."""
    torch.manual_seed(seed)
    x = torch.randn(256, 4)
    y = torch.sin(x[:, :1]) + x[:, 1:2] * x[:, 2:3]
    deep = mlp(nn.Sigmoid, [4] + [32] * 10 + [1])
    report = run(make_setup(deep, x, y, lr=0.1, optimizer=torch.optim.SGD, batch=64))
    assert "FD401" in warnings_of(report)
    f = next(f for f in report.findings if f.code == "FD401")
    assert f.evidence["ratio"] < 1e-3 and f.fix is not None
    assert f.fix.after is not None and f.fix.before is not None and f.fix.after < f.fix.before
    torch.manual_seed(seed)
    shallow = mlp(nn.Tanh, [4, 32, 32, 1])
    assert warnings_of(run(make_setup(shallow, x, y, lr=1e-2, batch=64))) == []


def test_fd601_names_its_root_cause() -> None:
    torch.manual_seed(0)
    x, y = sine(10)
    report = run(make_setup(mlp(nn.ELU, [1, 50, 25, 12, 1]), x, y, lr=0.1, batch=1, steps=200), steps=400)
    codes = [f.code for f in report.findings]
    assert "FD601" in codes
    fd601 = next(f for f in report.findings if f.code == "FD601")
    assert fd601.caused_by, "the symptom names its cause"
    assert codes.index(fd601.caused_by[0]) < codes.index("FD601")


def test_analysis_does_not_touch_the_users_model() -> None:
    torch.manual_seed(0)
    x, y = sine()
    model = mlp(nn.ReLU, [1, 8, 1])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.eval()
    run(make_setup(model, x, y), steps=50)
    assert not model.training
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


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
