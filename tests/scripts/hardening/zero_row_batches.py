"""A loop whose every batch has zero rows (an empty dataset sliced into batches)."""

import torch
from torch import nn

x = torch.randn(0, 4)
y = torch.randn(0, 1)
model = nn.Linear(4, 1)
opt = torch.optim.Adam(model.parameters(), lr=0.01)
for _ in range(50):
    opt.zero_grad()
    loss = nn.functional.mse_loss(model(x), y, reduction="sum")
    loss.backward()
    opt.step()
