"""The overfit-one-batch probe stops as soon as the batch counts as memorised, and only then."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fitdoctor.probes.overfit import overfit_one_batch
from rule_support import make_setup


def _setup(model: nn.Module, seed: int):  # type: ignore[no-untyped-def]
    torch.manual_seed(seed)
    x = torch.randn(64, 4)
    y = (x[:, :1] * 2 - x[:, 1:2]).sin()
    return make_setup(model, x, y, lr=1e-2, steps=1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_model_that_memorises_is_decided_in_its_first_run(seed: int) -> None:
    torch.manual_seed(seed)
    setup = _setup(nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 1)), seed)
    full = overfit_one_batch(setup, 32, 300, [1e-2], adam_lrs=(1e-3, 1e-2))
    early = overfit_one_batch(setup, 32, 300, [1e-2], adam_lrs=(1e-3, 1e-2), memorised=0.1)
    assert full is not None and early is not None
    # same verdict as the full check: below 10 % of the baseline
    assert full.best <= 0.1 * full.baseline and early.best <= 0.1 * early.baseline
    assert early.decided_at is not None and early.decided_at < 300 and full.decided_at is None
    assert early.lr == 1e-2 and early.optimizer == "Adam"  # the user's own run decided it: no further run
    # the first step at which the full run was below the share is where the early one stopped
    assert early.baseline == full.baseline and early.start == full.start


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_model_that_cannot_memorise_runs_every_run_to_the_end(seed: int) -> None:
    class Constant(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bias = nn.Parameter(torch.zeros(1))
            self.body = nn.Linear(4, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.body(x) * 0 + self.bias

    setup = _setup(Constant(), seed)
    full = overfit_one_batch(setup, 32, 100, [1e-2], adam_lrs=(1e-3, 1e-2))
    early = overfit_one_batch(setup, 32, 100, [1e-2], adam_lrs=(1e-3, 1e-2), memorised=0.1)
    assert full is not None and early is not None and early.decided_at is None
    assert (early.best, early.lr, early.optimizer) == (full.best, full.lr, full.optimizer)
    assert early.best > 0.1 * early.baseline
