"""A healthy script that prints what it sees of its environment."""

import os
import sys

import torch
from torch import nn

print(f"PYTHONPATH={os.environ.get('PYTHONPATH')!r}", flush=True)
print(f"cwd-on-path={os.getcwd() in sys.path[1:]}", flush=True)
torch.manual_seed(0)
x = torch.randn(256, 4)
y = x.sum(dim=1, keepdim=True)
model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
for _ in range(300):
    optimizer.zero_grad()
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    optimizer.step()
