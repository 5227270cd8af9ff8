"""Wraps the model in nn.DataParallel (on a CPU-only machine it just calls the module)."""

import torch
from torch import nn

torch.manual_seed(0)
x = torch.randn(128, 3)
y = x.sum(1, keepdim=True)
model = nn.DataParallel(nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 1)))
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
for step in range(300):
    opt.zero_grad()
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    opt.step()
print("final", loss.item())
