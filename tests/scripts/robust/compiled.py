"""A healthy regression whose model goes through torch.compile (and one compiled helper function)."""

import torch
from torch import nn

torch.manual_seed(0)
x = torch.randn(512, 8)
y = torch.sin(x[:, :1]) + 0.5 * x[:, 1:2]
model = torch.compile(nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1)))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)


@torch.compile(dynamic=False)
def criterion(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return nn.functional.mse_loss(prediction, target)


for epoch in range(200):
    for i in range(0, 512, 64):
        optimizer.zero_grad()
        loss = criterion(model(x[i : i + 64]), y[i : i + 64])
        loss.backward()
        optimizer.step()
