"""Run as `python -m pkg.train` from the project folder: it imports its package's modules relatively."""

import torch
from torch import nn

from .targets import linear_target

torch.manual_seed(0)
x = torch.randn(256, 3)
y = linear_target(x)
model = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 1))
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
for _ in range(300):
    opt.zero_grad()
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    opt.step()
