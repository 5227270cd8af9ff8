"""A loop that steps its scheduler where optimizer.step() belongs: the weights never change."""

import torch
from torch import nn

torch.manual_seed(0)
x = torch.randn(256, 4)
y = x[:, :1] * 2 - x[:, 1:2]
model = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=30, gamma=0.5)
for epoch in range(40):
    for i in range(0, 256, 32):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x[i : i + 32]), y[i : i + 32])
        loss.backward()
        scheduler.step()
    print(epoch, loss.item())
