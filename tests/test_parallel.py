"""Forked workers for independent analysis runs: same results as in the caller, errors met in the caller, no
process left behind."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
import torch
from torch import nn

from fitdoctor import parallel
from fitdoctor.parallel import can_fork, run_all
from fitdoctor.replay import portable, replay, restored
from fitdoctor.training import Plan
from rule_support import make_setup

needs_cores = pytest.mark.skipif(parallel.cores() < 2 or not hasattr(os, "fork"), reason="needs 2 cores and fork")


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    if os.path.isdir("/proc"):
        _BEFORE.clear()
        _BEFORE.update(_children())
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _children() -> set[int]:
    """This process's child processes, from /proc (Linux)."""
    me, out = os.getpid(), set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == me:
                out.add(int(entry))
    return out


_BEFORE: set[int] = set()


def _no_children_left() -> bool:
    return not os.path.isdir("/proc") or _children() <= _BEFORE


def _train(seed: int) -> float:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(32, 4), torch.randn(32, 1)
    for _ in range(20):
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
    return float(loss.detach())


def test_without_workers_every_task_runs_in_the_caller() -> None:
    outcomes = run_all([0, 1, 2], _train, workers=0)
    assert [o.value for o in outcomes] == [_train(0), _train(1), _train(2)]
    assert not any(o.worker or o.skipped for o in outcomes)


@needs_cores
def test_workers_compute_the_same_results_in_the_tasks_order_and_leave_no_process() -> None:
    assert can_fork()
    outcomes = run_all(list(range(5)), _train, workers=1)
    assert [o.value for o in outcomes] == [_train(k) for k in range(5)]
    assert [o.worker for o in outcomes] == [False, True, False, True, False]
    assert _no_children_left()


@needs_cores
def test_a_task_that_raises_in_a_worker_raises_again_in_the_caller() -> None:
    def task(k: int) -> int:
        if k == 1:
            raise ValueError("the user's error")
        return k

    with pytest.raises(ValueError, match="the user's error"):
        run_all([0, 1], task, workers=1)
    assert _no_children_left()


@needs_cores
def test_the_tasks_of_a_worker_that_dies_are_run_by_the_caller() -> None:
    caller = os.getpid()

    def task(k: int) -> int:
        if os.getpid() != caller:
            os._exit(3)  # a worker killed mid-way (out of memory, a signal)
        return k * k

    outcomes = run_all([1, 2, 3, 4], task, workers=1)
    assert [o.value for o in outcomes] == [1, 4, 9, 16] and not any(o.worker for o in outcomes)
    assert _no_children_left()


def test_tasks_past_the_deadline_are_skipped_not_run() -> None:
    ran: list[int] = []
    outcomes = run_all([0, 1, 2], lambda k: ran.append(k), deadline=time.perf_counter() - 1, workers=1)
    assert all(o.skipped and o.value is None for o in outcomes) and ran == []
    assert _no_children_left()


@needs_cores
def test_a_result_that_cannot_come_back_is_computed_in_the_caller() -> None:
    def task(k: int) -> object:
        return (lambda: k) if os.getpid() != caller else k  # a worker's lambda can't be pickled

    caller = os.getpid()
    outcomes = run_all([5, 6], task, workers=1)
    assert [o.value for o in outcomes] == [5, 6]


def test_the_environment_can_turn_workers_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FITDOCTOR_WORKERS", "1")
    assert not can_fork()
    assert not any(o.worker for o in run_all([0, 1], _train))


def test_several_torch_threads_keep_every_task_in_the_caller() -> None:
    torch.set_num_threads(2)
    assert not can_fork()


@needs_cores
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_replay_from_a_worker_equals_the_replay_in_the_caller(seed: int) -> None:
    torch.manual_seed(seed)
    x = torch.randn(128, 3)
    setup = make_setup(
        nn.Sequential(nn.Linear(3, 32), nn.ReLU(), nn.Linear(32, 1)), x, x.sum(1, keepdim=True), batch=32
    )
    plans = [Plan(), Plan(name="half", lr_scale=0.5), Plan(name="double", lr_scale=2.0)]
    local = [replay(setup, plan, 60, setup.batches, points=6) for plan in plans]
    outcomes = run_all(
        plans,
        lambda plan: replay(setup, plan, 60, setup.batches, points=6),
        pack=portable,
        unpack=lambda plan, packed: restored(setup, plan, packed),
        workers=2,
    )
    assert [o.worker for o in outcomes] == [False, True, True]
    for here, outcome in zip(local, outcomes, strict=True):
        there = outcome.value
        assert there is not None and there.plan is here.plan
        assert (there.curve, there.train_losses, there.final, there.error_rate) == (
            here.curve,
            here.train_losses,
            here.final,
            here.error_rate,
        )
        for a, b in zip(there.model.state_dict().values(), here.model.state_dict().values(), strict=True):
            assert torch.equal(a, b)
    assert _no_children_left()
