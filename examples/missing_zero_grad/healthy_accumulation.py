"""Regress y = sin(x0) + 0.5*x1**2 on [-2, 2]^2 with a 2-64-64-1 tanh MLP trained by Adam (lr=1e-3), accumulating gradients over 4 micro-batches of 16 per optimizer step.

This is gradient accumulation done right: each micro-batch loss is divided by
4 so the summed .grad equals the gradient of one batch of 64, the optimizer
steps once every 4 micro-batches, and zero_grad() clears .grad right after
each step. Skipping zero_grad() between micro-batches is intended here and
the loss falls steadily.

Expected: none
"""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)

x = torch.rand(1024, 2) * 4 - 2
y = torch.sin(x[:, :1]) + 0.5 * x[:, 1:] ** 2
loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True)

model = nn.Sequential(
    nn.Linear(2, 64), nn.Tanh(),
    nn.Linear(64, 64), nn.Tanh(),
    nn.Linear(64, 1),
)
criterion = nn.MSELoss()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
accum_steps = 4

step = 0
optimizer.zero_grad()
for epoch in range(60):
    running = 0.0
    for i, (xb, yb) in enumerate(loader):
        loss = criterion(model(xb), yb) / accum_steps
        loss.backward()
        running += loss.item()
        if (i + 1) % accum_steps == 0:
            optimizer.step()
            optimizer.zero_grad()
            step += 1
            if step == 1 or step % 200 == 0:
                print(f"step {step:4d} | batch loss {running:.4f}")
            running = 0.0

with torch.no_grad():
    final = criterion(model(x), y).item()
print(f"final loss on all data {final:.4f}, variance of y {y.var().item():.4f}")
