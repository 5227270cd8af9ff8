"""Trains 2 steps, then spins forever in pure Python inside the data pipeline (no torch call, no hook)."""

import torch
from torch import nn


def batches():
    g = torch.Generator().manual_seed(0)
    for step in range(10**9):
        if step == 2:
            while True:  # e.g. a retry loop waiting for a file that never comes
                pass
        x = torch.randn(32, 4, generator=g)
        yield x, x.sum(dim=1, keepdim=True)


model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 1))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
for x, y in batches():
    optimizer.zero_grad()
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    optimizer.step()
