"""Every rule declares the quantities it reads: on evidence that holds only what it declared, each rule
says exactly what it says on the full evidence, for healthy and broken setups alike; and a check
measures only what its selected rules declared."""

from __future__ import annotations

import dataclasses
import functools
import math

import pytest
import torch
from torch import nn

from fitdoctor.analysis import analyse, gather_evidence
from fitdoctor.catalog import load_catalog
from fitdoctor.evidence import Evidence, Locator
from fitdoctor.quantities import ALL, QUANTITIES, NotMeasured, NotMeasuredError, measured
from fitdoctor.rules import load_rules
from fitdoctor.selection import RuleSelection
from rule_support import OPTIONAL, make_setup, mlp, sine


def _gather(model: nn.Module, lr: float, x_scale: float = 1.0, steps: int = 60, y_offset: float = 0.0) -> Evidence:
    x, y = sine()
    setup = make_setup(model, x * x_scale, y + y_offset, lr=lr, steps=steps)
    return gather_evidence(setup, Locator(), replay_steps=steps, budget_s=math.inf).ev


def _tiny_init(width: int) -> nn.Module:
    model = mlp(nn.ReLU, [1, width, 1])
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-0.05, 0.05)
    return model


class _MisreadGRU(nn.Module):
    """A GRU left at batch_first=False, fed (batch, time, feature) data."""

    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(1, 8)
        self.head = nn.Linear(8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.gru(x)[0][:, -1])


def _sequences() -> Evidence:
    torch.manual_seed(0)
    x = torch.randn(128, 12, 1)
    setup = make_setup(_MisreadGRU(), x, x.sum(1) / 12**0.5, lr=3e-3, batch=32, steps=20)
    # Without the range test, the overfit check and the control (a GRU makes them slow): as when a check could not run them.
    ev = gather_evidence(setup, Locator(), replay_steps=40, needed=ALL - OPTIONAL, budget_s=math.inf).ev
    return dataclasses.replace(ev, lr_range=None, overfit=None, control=None)


@functools.cache
def setups() -> dict[str, Evidence]:
    """Healthy and broken setups whose rules read every kind of quantity (each seeded)."""
    out = {}
    for name, build, lr, x_scale in (
        ("healthy tanh", lambda: mlp(nn.Tanh, [1, 32, 32, 1]), 1e-2, 1.0),
        ("tiny-init relu", lambda: _tiny_init(4), 1e-2, 1.0),
        ("deep sigmoid", lambda: mlp(nn.Sigmoid, [1, *[32] * 8, 1]), 1e-3, 1.0),
        ("tanh on raw inputs", lambda: mlp(nn.Tanh, [1, 32, 32, 1]), 1e-2, 300.0),
        ("relu at a huge rate", lambda: mlp(nn.ReLU, [1, 64, 64, 1]), 3.0, 1.0),
        ("collapsed", lambda: mlp(nn.ReLU, [1, 8, 1], final=nn.Sigmoid()), 1e-4, 1.0),
    ):
        torch.manual_seed(0)
        out[name] = _gather(build(), lr, x_scale)
    out["gru fed batch-first data"] = _sequences()
    torch.manual_seed(0)
    out["targets offset by 1e4"] = _gather(mlp(nn.Tanh, [1, 32, 32, 1]), 1e-2, y_offset=1e4)
    return out


def _said(code: str, ev: Evidence) -> list[tuple[str, str]]:
    return [(s.code, s.message) for s in load_rules()[code].check(ev, load_catalog()[code])]


def test_every_quantity_is_described_and_every_declaration_known() -> None:
    assert all(text for text in QUANTITIES.values())
    for spec in load_rules().values():
        assert spec.needs <= ALL, spec.code


@pytest.mark.parametrize(
    "name",
    [
        "healthy tanh",
        "tiny-init relu",
        "deep sigmoid",
        "tanh on raw inputs",
        "relu at a huge rate",
        "collapsed",
        "gru fed batch-first data",
        "targets offset by 1e4",
    ],
)
def test_a_rule_reads_only_what_it_declares(name: str) -> None:
    ev = setups()[name]
    raised = set()
    for code, spec in load_rules().items():
        full = _said(code, ev)
        raised |= {c for c, _ in full}
        assert _said(code, ev.restricted(spec.needs)) == full, code
    # The setups exercise the rules that read the optional quantities on their raising side too.
    if name != "healthy tanh":
        assert raised, name


def test_the_broken_setups_raise_the_rules_that_read_probed_quantities() -> None:
    raised = {c for ev in setups().values() for code in load_rules() for c, _ in _said(code, ev)}
    readers = {code for code, spec in load_rules().items() if spec.needs - OPTIONAL}
    assert readers <= raised


def test_an_undeclared_read_fails_loudly() -> None:
    ev = setups()["healthy tanh"].restricted(frozenset())
    for read in (lambda: ev.init.gradients[0], lambda: len(ev.trained.activations), lambda: ev.trained.spread[0]):
        with pytest.raises(NotMeasuredError, match="not measured"):
            read()
    assert not measured(ev.init.gradients) and isinstance(ev.overfit, NotMeasured)
    assert measured(ev.init.activations) and measured(ev.baseline)


def test_a_selection_measures_only_what_its_rules_need() -> None:
    torch.manual_seed(0)
    x, y = sine()
    setup = make_setup(mlp(nn.ReLU, [1, 8, 1], final=nn.Sigmoid()), x, y, lr=1e-4, steps=40)
    full = analyse(setup, Locator(), script="<test>", replay_steps=40)
    fd2 = analyse(setup, Locator(), script="<test>", replay_steps=40, rules=RuleSelection(select=("FD2",)))
    # The same FD2xx verdicts as the full check...
    assert [f.code for f in fd2.findings] == [f.code for f in full.findings if f.code.startswith("FD2")]
    assert [f.code for f in fd2.findings]
    # ... without the gradient probes, the trained-model activation probe, the range test and the overfit check,
    # which no FD2xx rule reads: the report says nothing about what was not measured.
    assert full.training is not None and fd2.training is not None
    assert full.training.gradients and not fd2.training.gradients
    assert full.training.lr_range_test is not None and fd2.training.lr_range_test is None
    assert all(row.preact_std_after is None for row in fd2.training.layers)
    assert [r.name for r in fd2.training.layers] == [r.name for r in full.training.layers]


def test_restricting_keeps_what_was_declared() -> None:
    ev = setups()["healthy tanh"]
    kept = ev.restricted(frozenset({"spread"}))
    assert kept.init.spread == ev.init.spread and kept.trained.spread == ev.trained.spread
    assert dataclasses.replace(kept, notes=[]).baseline is ev.baseline
