"""Replays: evaluation points are measurements only; how many there are changes nothing a replay trains."""

from __future__ import annotations

import torch
from torch import nn

from fitdoctor.replay import evaluate, replay
from fitdoctor.training import Plan, TrainingSetup
from rule_support import make_setup


class NoisyHead(nn.Module):
    """A model that samples in its forward even in eval mode, as a VAE's reparameterisation does."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + 0.1 * torch.randn(x.shape[0], 1)


def _setup(seed: int) -> TrainingSetup:
    torch.manual_seed(seed)
    x = torch.randn(64, 3)
    y = x.sum(1, keepdim=True)
    return make_setup(NoisyHead(), x, y, batch=16, steps=5)


def test_an_evaluation_draws_no_random_number_from_the_callers_stream() -> None:
    setup = _setup(0)
    torch.manual_seed(3)
    state = torch.get_rng_state()
    evaluate(setup.model, setup, setup.batches)
    assert torch.equal(torch.get_rng_state(), state)


def test_fewer_evaluation_points_train_the_same_replay_and_measure_a_subset_of_its_steps() -> None:
    for seed in range(3):
        setup = _setup(seed)
        full = replay(setup, Plan(), 60, setup.batches, points=12)
        thin = replay(setup, Plan(), 60, setup.batches, points=12, thin=3)
        assert thin.final == full.final and thin.train_losses == full.train_losses
        assert [s for s, _ in thin.curve] == [0, 15, 30, 45, 60]
        assert set(thin.curve) <= set(full.curve)
