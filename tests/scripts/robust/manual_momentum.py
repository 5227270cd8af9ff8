"""Weights updated by hand with momentum: a rule fitdoctor can't replay as plain SGD."""

import torch
from torch import nn

torch.manual_seed(0)
x = torch.randn(256, 4)
y = x.sum(dim=1, keepdim=True)
model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1))
velocity = [torch.zeros_like(p) for p in model.parameters()]
for step in range(300):
    loss = ((model(x) - y) ** 2).mean()
    loss.backward()
    with torch.no_grad():
        for p, v in zip(model.parameters(), velocity):
            v.mul_(0.9).add_(p.grad)
            p -= 0.01 * v
            p.grad = None
