"""A healthy regression whose loop spends 0.1 s of CPU per batch preparing it (a slow, CPU-bound data pipeline):
each step costs at least that much CPU time on any machine, busy or not, so the default capture stops at its
target after the first 50 steps."""

import time

import torch
from torch import nn

torch.manual_seed(0)
x = torch.randn(512, 8)
y = x @ torch.randn(8, 1) + 0.1 * torch.randn(512, 1)

model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
loss_fn = nn.MSELoss()


def prepare_batch() -> torch.Tensor:
    """Indices of a batch, after 0.1 s of CPU work (an augmentation pipeline, say)."""
    started = time.process_time()
    while time.process_time() - started < 0.1:
        pass
    return torch.randint(0, 512, (64,))


for step in range(400):
    idx = prepare_batch()
    optimizer.zero_grad()
    loss = loss_fn(model(x[idx]), y[idx])
    loss.backward()
    optimizer.step()
