"""A complex-valued linear model trained on complex inputs."""

import torch
from torch import nn

torch.manual_seed(0)
x = torch.randn(64, 4, dtype=torch.complex64)
y = x.sum(1, keepdim=True)
model = nn.Linear(4, 1, dtype=torch.complex64)
opt = torch.optim.Adam(model.parameters(), lr=0.01)
for _ in range(50):
    opt.zero_grad()
    loss = (model(x) - y).abs().pow(2).mean()
    loss.backward()
    opt.step()
