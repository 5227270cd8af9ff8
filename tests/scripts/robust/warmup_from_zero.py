"""A healthy regression with a linear warm-up from zero over 50 steps (as transformer recipes do)."""

import torch
from torch import nn

torch.manual_seed(0)
x = torch.randn(1024, 8)
y = torch.sin(x[:, :1]) + x[:, 1:2] * x[:, 2:3]
model = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, step / 50))
for epoch in range(20):
    for i in range(0, 1024, 64):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x[i : i + 64]), y[i : i + 64])
        loss.backward()
        optimizer.step()
        scheduler.step()
    print(epoch, loss.item())
