"""A healthy regression whose loop waits 0.1 s per batch (a slow data loader): each step takes at least that long,
on any machine, so the default capture stops at its target after the minimum number of steps."""

import time

import torch
from torch import nn

torch.manual_seed(0)
x = torch.randn(512, 8)
y = x @ torch.randn(8, 1) + 0.1 * torch.randn(512, 1)

model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
loss_fn = nn.MSELoss()

for step in range(400):
    time.sleep(0.1)  # the batch takes this long to arrive
    idx = torch.randint(0, 512, (64,))
    optimizer.zero_grad()
    loss = loss_fn(model(x[idx]), y[idx])
    loss.backward()
    optimizer.step()
