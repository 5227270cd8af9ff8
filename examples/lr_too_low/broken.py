"""Regress y = sin(x0) * cos(x1) on [-2, 2]^2 with a 2-64-64-1 tanh MLP trained full-batch by Adam at lr=1e-6.

Adam moves every weight by about lr per step, so at lr=1e-6 the weights change
by at most ~2e-3 in 2000 steps, while they need to move by ~0.1-1 to fit the
surface. The loss creeps down by ~0.01 per 200 steps and after 2000 steps is
still around the variance of y (~0.23, the loss of predicting the mean).

Expected: FD502 learning-rate-too-low, FD601 loss-not-decreasing
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
optimizer = torch.optim.Adam(model.parameters(), lr=1e-6)

for step in range(1, 2001):
    optimizer.zero_grad()
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()
    if step == 1 or step % 200 == 0:
        print(f"step {step:4d} | loss {loss.item():.5f}")

print(f"final loss {loss.item():.5f}, variance of y {y.var().item():.5f}")
