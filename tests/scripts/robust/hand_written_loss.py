"""A mean squared error written by hand instead of a torch.nn loss."""

import torch
from torch import nn

torch.manual_seed(0)
x = torch.randn(256, 4)
y = x.sum(dim=1, keepdim=True)
model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 1))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
for epoch in range(100):
    for i in range(0, 256, 32):
        optimizer.zero_grad()
        loss = ((model(x[i : i + 32]) - y[i : i + 32]) ** 2).mean()
        loss.backward()
        optimizer.step()
