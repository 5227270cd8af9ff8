"""The Python API: fitdoctor.check, fitdoctor.watch, fitdoctor.testing.assert_trainable."""

from __future__ import annotations

import html
import inspect
import math
import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import fitdoctor
from fitdoctor.catalog import load_catalog
from fitdoctor.report.html import render as render_html
from fitdoctor.testing import assert_trainable


class GeluEverywhere(nn.Module):
    def __init__(self, last: bool = True) -> None:
        super().__init__()
        self.a = nn.Linear(1, 32)
        self.b = nn.Linear(32, 1)
        self.last = last

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.b(F.gelu(self.a(x)))
        return F.gelu(out) if self.last else out


def data() -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.linspace(-2, 2, 128).unsqueeze(1)
    return x, torch.exp(x) * x - 10


def test_check_finds_the_problem_and_leaves_the_users_objects_alone() -> None:
    torch.manual_seed(0)
    model = GeluEverywhere()
    model.eval()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    report = fitdoctor.check(model, data(), loss=nn.MSELoss(), optimizer=optimizer, steps=60, replay_steps=150)
    assert report.status == "ok" and report.findings[0].code == "FD201"
    assert report.findings[0].fix is not None and report.findings[0].fix.verified
    # The finding points at this file, where the final GELU is applied.
    assert report.findings[0].location is not None and report.findings[0].location.path.endswith("test_api.py")
    assert not model.training
    assert all(torch.equal(v, weights[k]) for k, v in model.state_dict().items())
    assert torch.equal(rng, torch.get_rng_state())
    assert not optimizer.state  # the user's optimizer never stepped


@pytest.mark.parametrize("kind", ["dataset", "loader"])
def test_check_accepts_datasets_and_loaders(kind: str) -> None:
    torch.manual_seed(0)
    x, y = data()
    dataset = TensorDataset(x, y)
    source = dataset if kind == "dataset" else DataLoader(dataset, batch_size=32, shuffle=True)
    report = fitdoctor.check(
        GeluEverywhere(last=False),
        source,
        loss="mse",
        steps=60,
        replay_steps=150,
        optimizer=lambda params: torch.optim.Adam(params, lr=1e-2),
    )
    assert report.status == "ok"
    assert [f.code for f in report.findings if f.severity != "info"] == []


def test_report_renders_itself() -> None:
    torch.manual_seed(0)
    report = fitdoctor.check(GeluEverywhere(), data(), steps=40, replay_steps=100, select=["FD201"])
    text = str(report)
    assert "FD201" in text and "output-range-mismatch" in text
    shown = report._repr_html_()
    # in Jupyter: the --html report itself, isolated in an iframe (its CSS and the notebook's don't mix)
    match = re.fullmatch(r'<iframe [^>]*srcdoc="([^"]*)"></iframe>', shown)
    assert match is not None, shown[:300]
    page = html.unescape(match.group(1))
    assert page == render_html(report, load_catalog())
    assert page.startswith("<!DOCTYPE html>") and "FD201" in page


def test_locations_name_the_users_objects_never_the_check_call() -> None:
    torch.manual_seed(0)
    this = inspect.getsourcefile(test_locations_name_the_users_objects_never_the_check_call)
    call_line = inspect.currentframe().f_lineno + 1  # type: ignore[union-attr]
    report = fitdoctor.check(GeluEverywhere(), data(), steps=40, replay_steps=100, select=["FD2", "FD6"])
    lines = {f.code: f.location.line for f in report.findings if f.location is not None}
    assert call_line not in lines.values(), lines
    assert lines["FD201"] == inspect.getsourcelines(GeluEverywhere.forward)[1] + 2  # the F.gelu of forward
    assert report.findings and all(f.location is None or f.location.path == this for f in report.findings)
    # a model of library modules: the final activation named by its class, not by fitdoctor's types
    sequential = nn.Sequential(nn.Linear(1, 32), nn.GELU(), nn.Linear(32, 1), nn.GELU())
    report = fitdoctor.check(sequential, data(), steps=40, replay_steps=100, select=["FD201"])
    (finding,) = report.findings
    assert finding.location is None and finding.fix is not None
    assert finding.fix.snippet == "# delete this layer from the model:\nGELU()  # module '3' of the model"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((nn.Linear(1, 1), "not data"), "data must be"),
        (("not a model", (torch.zeros(4, 1), torch.zeros(4, 1))), "model must be"),
        ((nn.Linear(1, 1), (torch.zeros(4, 1), torch.zeros(5, 1))), "same first"),
        ((nn.Linear(1, 1), (torch.zeros(0, 1), torch.zeros(0, 1))), "empty"),
        ((nn.Linear(2, 1), (torch.zeros(4, 1), torch.zeros(4, 1))), "training the model on this data failed"),
        ((nn.Linear(1, 1), TensorDataset(torch.zeros(0, 1), torch.zeros(0, 1))), "empty"),
    ],
)
def test_bad_input_raises_our_error(args: tuple, message: str) -> None:
    with pytest.raises(fitdoctor.UsageError, match=message):
        fitdoctor.check(*args, steps=5)


def test_unknown_loss_and_rule_are_usage_errors() -> None:
    with pytest.raises(fitdoctor.UsageError, match="unknown loss"):
        fitdoctor.check(nn.Linear(1, 1), data(), loss="hinge-ish", steps=5)
    with pytest.raises(fitdoctor.UsageError, match="matches no rule"):
        fitdoctor.check(nn.Linear(1, 1), data(), select=["FD777"], steps=5)


def test_watch_captures_without_disturbing_the_code() -> None:
    torch.manual_seed(0)
    x, y = data()
    with fitdoctor.watch(steps=40, replay_steps=100) as watched:
        model = GeluEverywhere()
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(120):
            opt.zero_grad()
            loss = F.mse_loss(model(x), y)
            loss.backward()
            opt.step()
    assert math.isfinite(float(loss.detach()))  # the loop ran all its steps
    assert watched.report is not None
    assert watched.report.training is not None and watched.report.training.loop.steps_captured == 40
    assert watched.report.findings[0].code == "FD201"


def test_watch_without_training_says_why() -> None:
    with pytest.raises(fitdoctor.UsageError, match=r"optimizer\.step"), fitdoctor.watch():
        nn.Linear(1, 1)(torch.zeros(2, 1))


def test_assert_trainable() -> None:
    torch.manual_seed(0)
    adam = torch.optim.Adam
    assert_trainable(
        GeluEverywhere(last=False), data(), loss="mse", steps=60, replay_steps=150, optimizer=lambda p: adam(p, lr=1e-2)
    )
    with pytest.raises(AssertionError, match="FD201 output-range-mismatch"):
        assert_trainable(
            GeluEverywhere(), data(), loss="mse", steps=60, replay_steps=150, optimizer=lambda p: adam(p, lr=1e-2)
        )


@pytest.mark.slow
def test_the_api_honours_inline_suppressions_and_a_silenced_rule_explains_nothing() -> None:
    torch.manual_seed(0)
    x = torch.linspace(255, 200000, 200).unsqueeze(1)
    y = torch.sin(x / 30000)
    with fitdoctor.watch(steps=100) as watched:  # the model is made inside: its lines are known
        model = nn.Sequential(
            nn.Linear(1, 32),
            nn.Tanh(),  # fitdoctor: ignore[saturated-activations]
            nn.Linear(32, 1),
        )
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        for _ in range(100):
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(x), y)
            loss.backward()
            opt.step()
    report = watched.report
    assert report is not None
    assert [f.code for f in report.suppressed] == ["FD302"]
    assert "FD302" not in [f.code for f in report.findings]
    assert not any("FD302" in f.caused_by or "FD302" in f.message for f in report.findings)
    assert "FD101" in [f.code for f in report.findings]


def test_watching_a_model_with_its_own_hooks_leaves_exactly_its_hooks() -> None:
    """The capture puts a hook after the model's own forward hooks while it watches, and takes it off."""
    torch.manual_seed(0)
    x, y = data()
    model = GeluEverywhere(last=False)
    model.register_buffer("scale", torch.tensor(10.0))
    handle = model.register_forward_hook(lambda module, args, output: output * module.scale)
    with fitdoctor.watch(steps=30, replay_steps=60) as watched:
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        for _ in range(40):
            opt.zero_grad()
            loss = F.mse_loss(model(x), y)
            loss.backward()
            opt.step()
    assert list(model._forward_hooks) == [handle.id]
    report = watched.report
    assert report is not None and report.training is not None and report.training.replay is not None
    first = report.training.replay.baseline.points[0][1]
    assert first is not None and report.training.loop.loss_start is not None
    assert 0.2 < first / report.training.loop.loss_start < 5  # the hook is applied once in the replay
