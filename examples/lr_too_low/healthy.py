"""Regress y = sin(x0) * cos(x1) on [-2, 2]^2 with a 2-64-64-1 tanh MLP trained full-batch by Adam at lr=1e-3.

Same data, model, loss and optimiser as broken.py; the only change is the
learning rate (1e-6 -> 1e-3, Adam's default), so the weights can move by the
~0.1-1 they need within a few hundred steps and the loss drops far below the
variance of y.

Expected: none
"""
import torch
import torch.nn as nn

torch.manual_seed(0)

x = torch.rand(1000, 2) * 4 - 2
y = torch.sin(x[:, :1]) * torch.cos(x[:, 1:])

model = nn.Sequential(
    nn.Linear(2, 64), nn.Tanh(),
    nn.Linear(64, 64), nn.Tanh(),
    nn.Linear(64, 1),
)
criterion = nn.MSELoss()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)  # fix: was lr=1e-6, too small to move the weights

for step in range(1, 2001):
    optimizer.zero_grad()
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()
    if step == 1 or step % 200 == 0:
        print(f"step {step:4d} | loss {loss.item():.5f}")

print(f"final loss {loss.item():.5f}, variance of y {y.var().item():.5f}")
