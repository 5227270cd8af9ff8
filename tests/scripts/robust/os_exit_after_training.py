"""Trains for 30 steps, then leaves with os._exit(3) (skipping cleanup, as some scripts do)."""

import os

import torch
from torch import nn

torch.manual_seed(0)
x = torch.randn(64, 2)
y = x[:, :1] * 2 - x[:, 1:]
model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
for step in range(30):
    opt.zero_grad()
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    opt.step()
os._exit(3)
