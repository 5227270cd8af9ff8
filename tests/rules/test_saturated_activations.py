"""FD302 saturated-activations: the rule on a small broken setup and its healthy twin, in-process; the activation share
on both sides of its threshold; and a saturated layer whose fix doesn't pay, through the CLI."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from conftest import ROOT, run_cli
from fitdoctor.probes.activations import ActivationStats
from rule_support import healthy_evidence, make_setup, mlp, run, sine, suspects, threshold, warnings_of


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


@pytest.mark.parametrize("factor", [0.5, 2.0])
def test_fd302_most_pre_activations_flat_though_no_unit_always_is(factor: float) -> None:
    """The activation share: every unit saturated on the same share of the inputs, below the per-unit share."""
    ev = healthy_evidence()
    share = threshold("FD302", "activation_saturated_share") * factor
    assert share < threshold("FD302", "unit_saturated_share")
    hidden = {a.index for a in ev.init.activations if a.units and a.kind == "tanh"}
    assert hidden

    def flat(stats: list[ActivationStats]) -> list[ActivationStats]:
        return [dataclasses.replace(a, saturated_share=[share] * a.units) if a.index in hidden else a for a in stats]

    wide = dataclasses.replace(ev, init=dataclasses.replace(ev.init, activations=flat(ev.init.activations)))
    found = suspects("FD302", wide)
    assert [s.code for s in found] == (["FD302"] if factor > 1 else [])
    if found:
        s = found[0]
        assert s.evidence["measure"] == "activations" and s.evidence["saturated_activations_init"] == share
        assert s.evidence["saturated_share_init"] == 0.0
        # the first tanh layer, fed x in [-pi, pi] (std 1.8 > 1): standardising is a candidate too
        assert s.evidence["producer"] == "0"
        assert [c.id for c in s.candidates] == ["standardize-inputs", "xavier-layer-0", "xavier-init"]


def test_saturation_that_costs_nothing_stays_an_info() -> None:
    # 59 % of the hidden layer's pre-activations are flat, but re-initialising it (or the whole model) trains
    # worse in the replay: no alarm. FD303 notes the deliberately small output layer, unverified too.
    run = run_cli("check", str(ROOT / "tests" / "scripts" / "robust" / "char_mlp_saturated.py"), "--format", "json")
    assert run.code == 0 and run.report is not None, run.stderr[-2000:]
    assert sorted(run.codes()) == ["FD302", "FD303"] and run.codes("warning") == []
    f = run.finding("FD302")
    assert f["confidence"] == "suspected" and f["evidence"]["measure"] == "activations"
    assert f["evidence"]["saturated_activations_init"] > threshold("FD302", "activation_saturated_share")
    assert f["fix"] is not None and not f["fix"]["verified"]
