"""Helpers of the in-process rule tests: a setup as the capture would record it, and small models and data."""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from fitdoctor.analysis import analyse, gather_evidence
from fitdoctor.batches import Batch
from fitdoctor.capture.budget import CaptureBudget
from fitdoctor.capture.recorder import Recorder
from fitdoctor.capture.stops import StopCapture
from fitdoctor.capture.userframes import UserFiles
from fitdoctor.catalog import load_catalog
from fitdoctor.evidence import Evidence, Locator
from fitdoctor.findings import Report
from fitdoctor.quantities import ALL
from fitdoctor.rules import load_rules
from fitdoctor.rules.base import Suspect
from fitdoctor.training import LossSpec, TrainingSetup

#: The probes that cost short training runs: the tests that need them supply their results.
OPTIONAL = frozenset({"lr_range", "overfit", "shuffled_targets"})


def setup_of(
    model: nn.Module,
    batches: list[Batch],
    loss: str,
    *,
    lr: float,
    seed: int = 0,
    optimizer: type[torch.optim.Optimizer] = torch.optim.Adam,
) -> TrainingSetup:
    """A setup from a model at its current weights and ready-made batches, trained with one optimizer group."""
    return TrainingSetup(
        model=model,
        initial_state={k: v.clone() for k, v in model.state_dict().items()},
        optimizer_cls=optimizer,
        optimizer_groups=[{"lr": lr, "params": [n for n, _ in model.named_parameters()]}],
        loss=LossSpec(loss, {}),
        batches=batches,
        seed=seed,
    )


def capture(train: Callable[[], object], steps: int = 5) -> Recorder:
    """Run ``train`` (the user's loop) under an in-process capture stopped after ``steps`` steps."""
    recorder = Recorder(UserFiles(None), CaptureBudget(steps))
    recorder.install()
    try:
        train()
    except StopCapture:
        pass
    finally:
        recorder.uninstall()
    recorder.finish()
    return recorder


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


@functools.cache
def healthy_evidence() -> Evidence:
    """The evidence of a small healthy regression (a 1-32-32-1 tanh MLP fitting sin on [-pi, pi] with Adam),
    measured once per test process: the per-rule tests change only the facts their rule reads."""
    torch.manual_seed(0)
    x, y = sine()
    setup = make_setup(mlp(nn.Tanh, [1, 32, 32, 1]), x, y, steps=50)
    # Without the optional probes (range test, overfit check): the tests that need them supply their results.
    # The others are measured; ``suspects`` shows each rule only those it declares.
    # No time budget: on a loaded machine a scaled-down effort would change what is measured.
    ev = gather_evidence(setup, Locator(), replay_steps=50, needed=ALL - OPTIONAL, budget_s=math.inf).ev
    return dataclasses.replace(ev, lr_range=None, overfit=None, control=None)  # as when a check could not run them


def suspects(code: str, ev: Evidence) -> list[Suspect]:
    """What the rule ``code`` alone reports on ``ev`` (its check, with its catalog entry), seeing only the
    quantities it declares, as a check that selects it alone would measure them."""
    spec = load_rules()[code]
    return spec.check(ev.restricted(spec.needs), load_catalog()[code])


def threshold(code: str, name: str) -> float:
    """A threshold of the rule ``code`` as catalogued."""
    return load_catalog()[code].threshold(name)
