"""Fit a damped oscillation y = exp(-0.3 t) * cos(2 t) on [0, 10] with a 1-32-32-1 tanh MLP trained full-batch by torch.optim.LBFGS, whose closure never calls optimizer.zero_grad().

LBFGS calls the closure several times per step (once per function
evaluation) and uses the gradient it leaves in .grad. Without zero_grad()
every call adds its gradient to all the previous ones, so LBFGS builds its
search direction and its curvature estimate (differences of successive
gradients) from a running sum of stale gradients instead of the gradient at
the current weights. Its steps grow instead of shrinking: the loss jumps
from 0.1 to 5e10 at the second step and is NaN by the sixth, and the network
never fits y.

Expected: FD503 missing-zero-grad, FD402 exploding-gradients
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
