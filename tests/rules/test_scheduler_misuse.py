"""FD506 scheduler-misuse in-process: the rule on the learning rates real torch schedulers produce, the capture of
those rates and of the scheduler's calls, replays that follow the captured schedule, and a scheduler stepped where
the optimizer never is. The examples run through the CLI in tests/test_examples.py."""

from __future__ import annotations

import dataclasses
import linecache
import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim import lr_scheduler

from conftest import ROOT, run_cli
from fitdoctor.capture.build import problem
from fitdoctor.evidence import Evidence
from fitdoctor.replay import replay
from fitdoctor.summary import LoopSummary
from fitdoctor.training import Plan
from rule_support import capture, healthy_evidence, make_setup, mlp, sine, suspects, threshold

STEPS = 200
ROBUST = ROOT / "tests" / "scripts" / "robust"
Schedule = Callable[[torch.optim.Optimizer], Any]


def rates(schedule: Schedule, steps: int = STEPS, per: int = 1) -> tuple[float, ...]:
    """The learning rate of each of ``steps`` optimizer steps under ``schedule``, stepped every ``per`` steps."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched = schedule(opt)
    out = []
    for i in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        if (i + 1) % per == 0:
            sched.step()
    return tuple(out)


def with_rates(lrs: tuple[float, ...], calls: int = STEPS) -> Evidence:
    loop = LoopSummary(steps_captured=len(lrs), learning_rates=lrs, scheduler_steps=calls)
    return dataclasses.replace(healthy_evidence(), loop=loop)


def warmup_then_linear(opt: torch.optim.Optimizer) -> Any:
    return lr_scheduler.LambdaLR(opt, lambda s: min((s + 1) / 20, max(0.0, (STEPS - s) / (STEPS - 20))))


FIRES: dict[str, tuple[Schedule, int]] = {
    "StepLR(7, 0.1) per batch": (lambda o: lr_scheduler.StepLR(o, 7, 0.1), 1),
    "ExponentialLR(0.9) per batch": (lambda o: lr_scheduler.ExponentialLR(o, 0.9), 1),
    "MultiplicativeLR(0.5) per batch": (lambda o: lr_scheduler.MultiplicativeLR(o, lambda e: 0.5), 1),
}
QUIET: dict[str, tuple[Schedule, int]] = {
    "StepLR(7, 0.1) per epoch of 16 batches": (lambda o: lr_scheduler.StepLR(o, 7, 0.1), 16),
    "CosineAnnealingLR over the run": (lambda o: lr_scheduler.CosineAnnealingLR(o, STEPS), 1),
    "OneCycleLR over the run": (lambda o: lr_scheduler.OneCycleLR(o, 0.1, total_steps=STEPS), 1),
    "linear warm-up, then linear decay to 0": (warmup_then_linear, 1),
    "MultiStepLR at 1/2 and 3/4 of the run": (lambda o: lr_scheduler.MultiStepLR(o, [100, 150], 0.1), 1),
    "constant": (lambda o: lr_scheduler.ConstantLR(o, 1.0), 1),
}


@pytest.mark.parametrize("name", FIRES)
def test_a_schedule_that_collapses_the_rate_fires(name: str) -> None:
    schedule, per = FIRES[name]
    lrs = rates(schedule, per=per)
    (found,) = suspects("FD506", with_rates(lrs))
    assert found.code == "FD506" and [c.id for c in found.candidates] == ["constant-lr"]
    assert "about once per step" in found.message
    floor = threshold("FD506", "floor_share") * max(lrs)
    assert found.evidence["collapsed_from_step"] == 1 + next(i for i, v in enumerate(lrs) if v <= floor)


@pytest.mark.parametrize("name", QUIET)
def test_designed_schedules_stay_quiet(name: str) -> None:
    schedule, per = QUIET[name]
    assert suspects("FD506", with_rates(rates(schedule, per=per), STEPS // per)) == []


@pytest.mark.parametrize("above", [False, True])
def test_the_collapsed_share_is_the_boundary(above: bool) -> None:
    share = threshold("FD506", "collapsed_share")
    low = math.ceil(share * STEPS) - (0 if above else 1)
    lrs = (0.1,) * (STEPS - low) + (0.1 * threshold("FD506", "floor_share"),) * low
    found = suspects("FD506", with_rates(lrs, calls=3))
    assert [s.code for s in found] == (["FD506"] if above else [])
    if above:
        assert "3 times in 200 optimizer steps" in found[0].message and "far too fast" in found[0].message
        assert found[0].candidates[0].title == "Slow the schedule's decay down"


def test_a_rate_set_by_hand_is_named_as_such() -> None:
    lrs = (0.1,) * 10 + (1e-6,) * 190
    (found,) = suspects("FD506", with_rates(lrs, calls=0))
    assert "changes the learning rate itself" in found.message


def _loop(schedule: Schedule | None, steps: int, optimizer_step: bool = True) -> Callable[[], None]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    x, y = torch.randn(64, 2), torch.randn(64, 1)

    def train() -> None:
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        sched = schedule(opt) if schedule else None
        for _ in range(steps):
            opt.zero_grad()
            F.mse_loss(model(x), y).backward()
            if optimizer_step:
                opt.step()
            if sched is not None:
                sched.step()

    return train


def test_the_capture_records_the_rates_and_the_scheduler_calls() -> None:
    recorder = capture(_loop(lambda o: lr_scheduler.StepLR(o, 2, 0.5), 8), steps=8)
    summary = recorder.training_summary()
    assert summary.learning_rates == pytest.approx([0.01, 0.01, 0.005, 0.005, 0.0025, 0.0025, 0.00125, 0.00125])
    # The constructor's own first step is not the script's; the stop at the 8th step comes before its scheduler step.
    assert summary.scheduler_steps == 7
    site = recorder.schedulers.site
    assert recorder.schedulers.names == ["StepLR"] and site is not None
    assert linecache.getline(site.path, site.line).strip() == "sched.step()"


def test_a_scheduler_that_steps_others_counts_once() -> None:
    def chained(o: torch.optim.Optimizer) -> Any:
        return lr_scheduler.SequentialLR(
            o, [lr_scheduler.ConstantLR(o, 0.5, total_iters=2), lr_scheduler.ExponentialLR(o, 0.9)], milestones=[2]
        )

    summary = capture(_loop(chained, 6), steps=6).training_summary()
    assert summary.scheduler_steps == 5 and summary.learning_rates is not None


def test_a_constant_rate_is_not_recorded() -> None:
    summary = capture(_loop(None, 5), steps=5).training_summary()
    assert summary.learning_rates is None and summary.scheduler_steps == 0
    assert "learning_rates" not in summary.to_dict() and "scheduler_steps" not in summary.to_dict()


def test_a_scheduler_stepped_instead_of_the_optimizer_is_fd506() -> None:
    # PyTorch warns that the scheduler steps before its optimizer: once, at the script's own line, as without
    # fitdoctor (the wrapper would otherwise be the line the warning names).
    with pytest.warns(UserWarning, match=r"lr_scheduler.step\(\)` before `optimizer.step\(\)") as caught:
        recorder = capture(_loop(lambda o: lr_scheduler.StepLR(o, 7, 0.1), 6, optimizer_step=False), steps=6)
    assert [(w.filename, linecache.getline(w.filename, w.lineno).strip()) for w in caught] == [
        (__file__, "sched.step()")
    ]
    found = problem(recorder, "train.py")
    assert found is not None and found.code == "FD506" and found.status == "no-step"
    assert "StepLR.step() 6 times" in found.message and "never optimizer.step()" in found.message
    assert found.extra == {"backward_calls": 6, "scheduler_steps": 6}


def test_replays_follow_the_schedule_and_the_fix_holds_the_peak() -> None:
    torch.manual_seed(0)
    x, y = sine(64)
    setup = make_setup(mlp(nn.Tanh, [1, 16, 1]), x, y, lr=0.01, steps=1)
    frozen = dataclasses.replace(setup, lr_schedule=[(0.01,), (0.0,)])  # one step at 0.01, then nothing
    one = replay(frozen, Plan(), 5, setup.batches[:1])
    first = replay(dataclasses.replace(setup, lr_schedule=[]), Plan(), 1, setup.batches[:1])
    assert one.final == pytest.approx(first.final, rel=1e-6)  # the steps at 0 changed nothing
    held = replay(frozen, Plan("constant-lr", constant_lr=True), 5, setup.batches[:1])
    constant = replay(dataclasses.replace(setup, lr_schedule=[]), Plan(), 5, setup.batches[:1])
    assert held.final == pytest.approx(constant.final, rel=1e-6)
    assert frozen.lr == 0.01 and frozen.scheduled_lrs(9) == (0.0,) and frozen.peak_lrs() == (0.01,)


def test_the_cli_names_a_scheduler_stepped_instead_of_the_optimizer() -> None:
    run = run_cli("check", str(ROBUST / "scheduler_instead_of_optimizer.py"), "--format", "json")
    assert run.code == 2 and run.report is not None, run.stderr[-2000:]
    assert run.report["status"] == "no-step" and run.codes() == ["FD506"]
    (finding,) = run.report["findings"]
    assert finding["location"]["line"] == 17 and finding["location"]["source"] == "scheduler.step()"
    assert finding["evidence"] == {"backward_calls": 320, "scheduler_steps": 320}


def test_a_warm_up_from_zero_is_replayed_as_the_script_trains() -> None:
    # Before the replays followed the schedule they ran at the first step's rate, 0 here: the baseline learned
    # nothing and FD504 suspected a frozen param group.
    run = run_cli("check", str(ROBUST / "warmup_from_zero.py"), "--format", "json")
    assert run.code == 0 and run.report is not None, run.stderr[-2000:]
    assert run.codes() == []
    assert run.report["setup"]["optimizer"]["hyperparameters"]["lr"] == pytest.approx(3e-3)
    rates = run.report["training"]["learning_rates"]
    assert rates[0] == 0.0 and rates[50:] == pytest.approx([3e-3] * (len(rates) - 50))
    baseline = run.report["training"]["replay"]["baseline"]
    assert baseline["final"] < 0.25 * run.report["training"]["constant_prediction_loss"]
