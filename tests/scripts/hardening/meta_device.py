"""A model moved to the meta device (shapes, no values) trained as if it were real."""

import torch
from torch import nn

model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1)).to("meta")
opt = torch.optim.SGD(model.parameters(), lr=0.1)
x = torch.randn(64, 4, device="meta")
y = torch.randn(64, 1, device="meta")
for _ in range(50):
    opt.zero_grad()
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    opt.step()
