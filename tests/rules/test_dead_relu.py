"""FD301 dead-relu: the rule on a small broken setup and its healthy twin, in-process (no script, no subprocess)."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from conftest import SCRIPTS, run_cli
from fitdoctor.analysis import gather_evidence
from fitdoctor.evidence import Locator
from fitdoctor.rules import load_rules
from fitdoctor.training import unwrap
from rule_support import make_setup, mlp, run, sine, suspects, threshold, warnings_of


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
    # The U(-0.05, 0.05) init is the root cause (FD303, the alarm); the lost units are what it explains.
    assert [(x.code, x.severity, x.confidence) for x in report.findings] == [
        ("FD303", "error", "confirmed"),  # a warning made an error by measured harm (confirm.HARM_FACTOR)
        ("FD301", "info", "confirmed"),
        ("FD602", "info", "suspected"),
    ]
    assert f.confidence == "confirmed" and f.caused_by == ("FD303",)
    assert f.evidence["duplicate_share_after"] > 0
    assert f.evidence["effective_units_after"] <= 2
    assert f.fix is not None and f.fix.verified and f.fix.id == "widen-he-init"
    torch.manual_seed(2)
    assert [f.code for f in run(make_setup(_Tiny(64, False), x, y, lr=1e-2), steps=400).findings] == []


NEEDS = load_rules()["FD301"].needs


def _lost_units_from_the_weights(model: _Tiny, x: torch.Tensor, limit: float, count_duplicates: bool) -> int:
    """The units of the hidden layer the rule calls lost, computed from the weights in float64 instead of the
    activation probe: dead (active on under ``unit_active_share`` of the inputs) or, while the model
    underfits, explained up to scale and offset by an earlier kinked unit to within float16's 2^-10."""
    w = model.hidden.weight.detach().double()[:, 0]
    b = model.hidden.bias.detach().double()
    z = x.double() @ w[None, :] + b  # (inputs, units)
    h = z.clamp(min=0)
    active = (z > 0).double().mean(0)
    dead = int((active < limit).sum())
    if not count_duplicates:
        return dead
    kinked = [u for u in range(len(w)) if limit <= active[u] < 1 - limit]
    representatives: list[int] = []
    duplicates = 0
    for u in kinked:
        for r in representatives:
            design = torch.stack([h[:, r], torch.ones_like(h[:, r])], 1)
            fit = design @ torch.linalg.lstsq(design, h[:, u : u + 1]).solution
            unexplained = float(((h[:, u : u + 1] - fit) ** 2).mean() / h[:, u].var(unbiased=False))
            if unexplained < 2.0**-20:
                duplicates += 1
                break
        else:
            representatives.append(u)
    return dead + duplicates


@pytest.mark.parametrize("seed", range(8))
def test_fd301_over_seeds_agrees_with_the_units_read_from_the_weights(seed: int) -> None:
    """The founding 4-unit case over eight seeds (about half condense, the others end with mirrored kinks or a
    dead pair): FD301 is raised exactly when more than half the layer is lost by the weights' own account, and
    never on the He-initialised 64-unit twin."""
    x, y = sine(100)
    limit = threshold("FD301", "unit_active_share")
    for width, keras in ((4, True), (64, False)):
        torch.manual_seed(seed)
        model = _Tiny(width, keras)
        init = copy.deepcopy(model)
        ev = gather_evidence(
            make_setup(model, x, y, lr=1e-2), Locator(), replay_steps=400, needed=NEEDS, budget_s=math.inf
        ).ev
        assert ev.constant_loss is not None
        underfit = ev.baseline.final > threshold("FD301", "underfit_share") * ev.constant_loss
        trained = unwrap(ev.baseline.model)
        lost = max(
            _lost_units_from_the_weights(init, x, limit, False),
            _lost_units_from_the_weights(trained, x, limit, underfit),
        )
        expected = lost / width > threshold("FD301", "layer_dead_share")
        found = suspects("FD301", ev)
        assert bool(found) == expected, (seed, width, lost)
        if width == 64:
            assert not found
        if found:
            assert found[0].evidence["effective_units_after"] == width - lost


@pytest.mark.parametrize("seed", [0, 1])
def test_fd301_a_deep_narrow_stack_is_born_dead_and_widening_every_layer_fixes_it(seed: int) -> None:
    """8 ReLU layers of 3 units: at that depth some layer starts with most of its units dead on every seed (Lu
    et al. 2020; measured over 40 seeds of PyTorch's default init, 100 % at depth 8 against 17.5 % at depth 2).
    Widening only the worst layer leaves the others to die; the fix widens all of them."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(512, 10, generator=g)
    y = torch.tanh(x @ torch.randn(10, 3, generator=g) / 3) + 0.1 * torch.sin(3 * x[:, :3])
    torch.manual_seed(seed)
    report = run(make_setup(mlp(nn.ReLU, [10] + [3] * 8 + [3]), x, y, lr=1e-3, batch=64), steps=200)
    f = report.findings[0]
    assert (f.code, f.confidence) == ("FD301", "confirmed") and f.severity != "info"
    assert f.fix is not None and f.fix.verified and f.fix.id == "widen-he-init"
    assert f.fix.title == "Use wider layers (21× the 3 units of 8 layers) with He init"
    assert not [g.code for g in report.findings[1:] if g.severity != "info"]  # the rest is explained or unconfirmed
    torch.manual_seed(seed)
    wide = mlp(nn.ReLU, [10] + [64] * 8 + [3])
    for m in wide.modules():
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
    assert [f.code for f in run(make_setup(wide, x, y, lr=1e-3, batch=64), steps=200).findings] == []


@pytest.mark.parametrize("twin", [False, True])
def test_a_deep_narrow_relu_stack_through_the_cli(twin: bool) -> None:
    """tests/scripts/narrow_relu.py: 8 ReLU layers of 3 units (the benchmark's tiny_relu fault as a script) get
    exactly one alarm, FD301 at the narrow layers' line, fixed by widening them with He init (verified); the twin
    (2 layers of 64) gets no finding at all."""
    run = run_cli(
        "check",
        str(SCRIPTS / "narrow_relu.py"),
        "--format",
        "json",
        "--",
        *(["--width", "64", "--depth", "2"] if twin else []),
    )
    assert run.report is not None and run.report["status"] == "ok", run.stderr[-2000:]
    if twin:
        assert run.report["findings"] == []
        return
    assert run.codes("warning") == ["FD301"]
    (finding,) = [f for f in run.report["findings"] if f["code"] == "FD301"]
    assert finding["location"]["line"] == 28  # layers += [nn.Linear(width_in, args.width), nn.ReLU()]
    assert finding["fix"]["id"] == "widen-he-init" and finding["fix"]["verified"]
