"""Fit y = sin(x) on [-pi, pi] with a 1-32-32-1 tanh MLP, updated by torch.optim.SGD.

Same data, model, loss and learning rate as broken.py; the only change is
that the hand-written update (p.data -= lr * p.grad; p.grad.zero_()) is
replaced by torch.optim.SGD with zero_grad() and step(), which does the same
arithmetic. The loss falls the same way, and fitdoctor can now see the
optimizer and replay the training.

Expected: none
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
optimizer = torch.optim.SGD(model.parameters(), lr=lr)  # fix: a torch.optim optimizer instead of the hand-written update

for step in range(1, 1001):
    optimizer.zero_grad()  # fix: was p.grad.zero_() in the update loop
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()  # fix: was the loop doing p.data -= lr * p.grad
    if step == 1 or step % 200 == 0:
        print(f"step {step:4d} | loss {loss.item():.5f}")

print(f"final loss {loss.item():.5f}, variance of y {y.var().item():.5f}")
