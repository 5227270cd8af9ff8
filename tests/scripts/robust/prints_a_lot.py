"""Prints 50,000 lines before and while training, replaces sys.stdout midway, and turns warnings into errors."""

import io
import sys
import warnings

import torch
from torch import nn

warnings.simplefilter("error")
for i in range(50_000):
    print("line", i)
torch.manual_seed(0)
x = torch.randn(64, 2)
y = x[:, :1] * 2 - x[:, 1:]
model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
for step in range(300):
    if step == 10:
        sys.stdout = io.StringIO()
    opt.zero_grad()
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    opt.step()
    print("step", step, loss.item())
