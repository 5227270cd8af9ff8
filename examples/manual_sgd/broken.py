"""Fit y = sin(x) on [-pi, pi] with a 1-32-32-1 tanh MLP, updating the weights by hand (p.data -= lr * p.grad) instead of with a torch.optim optimizer.

This is the classic tutorial loop and it trains fine: the loss falls far
below the variance of y. But there is no optimizer object, so fitdoctor
can't tell which update rule and learning rate the script uses and can't
replay the training; it reports the setup as unsupported instead of guessing.

Expected: FD903 unsupported-setup
"""
import math

import torch
import torch.nn as nn

torch.manual_seed(0)

x = torch.linspace(-math.pi, math.pi, 256).unsqueeze(1)
y = torch.sin(x)

model = nn.Sequential(
    nn.Linear(1, 32), nn.Tanh(),
    nn.Linear(32, 32), nn.Tanh(),
    nn.Linear(32, 1),
)
criterion = nn.MSELoss()
lr = 0.05

for step in range(1, 1001):
    loss = criterion(model(x), y)
    loss.backward()
    for p in model.parameters():
        p.data -= lr * p.grad
        p.grad.zero_()
    if step == 1 or step % 200 == 0:
        print(f"step {step:4d} | loss {loss.item():.5f}")

print(f"final loss {loss.item():.5f}, variance of y {y.var().item():.5f}")
