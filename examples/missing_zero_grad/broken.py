"""Regress y = sin(x0) + 0.5*x1**2 on [-2, 2]^2 with a 2-64-64-1 tanh MLP trained by Adam (lr=1e-3) on shuffled mini-batches of 64, with a loop that never calls optimizer.zero_grad().

loss.backward() adds to .grad, so without zero_grad() every step follows the
sum of all gradients seen so far instead of the current one. Long after the
fit has passed a minimum, the stale sum keeps pushing the weights the old
way; the loss overshoots, swings back and forth with growing amplitude, and
ends above the variance of y (the loss of predicting the mean).

Expected: FD503 missing-zero-grad, FD302 saturated-activations
"""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)

x = torch.rand(1024, 2) * 4 - 2
y = torch.sin(x[:, :1]) + 0.5 * x[:, 1:] ** 2
loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)

model = nn.Sequential(
    nn.Linear(2, 64), nn.Tanh(),
    nn.Linear(64, 64), nn.Tanh(),
    nn.Linear(64, 1),
)
criterion = nn.MSELoss()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

step = 0
for epoch in range(60):
    for xb, yb in loader:
        loss = criterion(model(xb), yb)
        loss.backward()
        optimizer.step()
        step += 1
        if step == 1 or step % 200 == 0:
            print(f"step {step:4d} | batch loss {loss.item():.4f}")

with torch.no_grad():
    final = criterion(model(x), y).item()
print(f"final loss on all data {final:.4f}, variance of y {y.var().item():.4f}")
