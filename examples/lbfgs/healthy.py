"""Fit a damped oscillation y = exp(-0.3 t) * cos(2 t) on [0, 10] with a 1-32-32-1 tanh MLP trained full-batch by torch.optim.LBFGS, whose closure calls optimizer.zero_grad() before each evaluation.

Same data, model and optimiser as broken.py; the only change is the
zero_grad() at the top of the closure, so each evaluation leaves the gradient
at the current weights and the loss falls far below the variance of y.

Expected: none
"""
import torch
import torch.nn as nn

torch.manual_seed(0)

t = torch.linspace(0, 10, 400).unsqueeze(1)
y = torch.exp(-0.3 * t) * torch.cos(2 * t)
x = (t - 5) / 5  # time scaled to [-1, 1]

model = nn.Sequential(
    nn.Linear(1, 32), nn.Tanh(),
    nn.Linear(32, 32), nn.Tanh(),
    nn.Linear(32, 1),
)
criterion = nn.MSELoss()
optimizer = torch.optim.LBFGS(model.parameters(), lr=1, max_iter=20, history_size=10)


def closure():
    optimizer.zero_grad()  # fix: clear the gradient of the previous evaluation (was missing)
    loss = criterion(model(x), y)
    loss.backward()
    return loss


for step in range(1, 31):
    loss = optimizer.step(closure)
    if step == 1 or step % 5 == 0:
        print(f"step {step:3d} | loss {loss.item():.4g}")

with torch.no_grad():
    final = criterion(model(x), y).item()
print(f"final loss {final:.5f}, variance of y {y.var().item():.5f}")
