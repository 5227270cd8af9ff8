"""Predict a machine's power draw from 4 standardised sensor readings with a 4-64-64-1 ReLU MLP trained by Adam, with the mean squared error written by hand as ((pred - y) ** 2).mean().

The target y is a 1-D tensor of shape (N,), while the model returns (N, 1).
pred - y broadcasts to an N x N matrix (a hand-written loss doesn't even
warn, unlike nn.MSELoss), so the loss averages every prediction against every
target. That is minimised by predicting the mean power for every row: the
loss settles at the variance of y and the network learns nothing about x.

Expected: FD202 loss-shape-mismatch, FD602 cannot-overfit-batch, FD204 collapsed-output, FD601 loss-not-decreasing
"""
import torch
import torch.nn as nn

torch.manual_seed(0)

# 512 readings of 4 sensors and the power draw they explain
n = 512
x = torch.randn(n, 4)
y = torch.tanh(2 * x[:, 0]) * x[:, 1] + 0.5 * torch.cos(2 * x[:, 2]) - 0.3 * x[:, 3]

model = nn.Sequential(
    nn.Linear(4, 64), nn.ReLU(),
    nn.Linear(64, 64), nn.ReLU(),
    nn.Linear(64, 1),
)
optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)

for step in range(1, 601):
    optimizer.zero_grad()
    pred = model(x)
    loss = ((pred - y) ** 2).mean()
    loss.backward()
    optimizer.step()
    if step == 1 or step % 200 == 0:
        print(f"step {step:4d} | loss {loss.item():.4f}")

print(f"final loss {loss.item():.4f}, variance of y {y.var().item():.4f}")
