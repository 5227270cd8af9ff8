"""Separate two interleaved half-moons (800 points in 2-D) with a 2-32-32-1 ReLU MLP that outputs a raw logit, trained with nn.BCEWithLogitsLoss and SGD (lr 0.1) in mini-batches of 32.

Same data, model and optimiser as broken.py; the only change is that the final
nn.Sigmoid is removed, so nn.BCEWithLogitsLoss gets the logit it expects and
applies the (single) sigmoid itself; accordingly a positive logit, not an
output above 0.5, means class 1. The loss falls towards 0.

Expected: none
"""
import math

import torch
from torch import nn

torch.manual_seed(0)

# two half-moons, 400 points each, with a little noise
n = 800
t = torch.rand(n) * math.pi
label = torch.rand(n) < 0.5
upper = torch.stack([torch.cos(t), torch.sin(t)], dim=1)
lower = torch.stack([1 - torch.cos(t), 0.5 - torch.sin(t)], dim=1)
X = torch.where(label.unsqueeze(1), lower, upper) + 0.1 * torch.randn(n, 2)
y = label.float().unsqueeze(1)

model = nn.Sequential(
    nn.Linear(2, 32), nn.ReLU(),
    nn.Linear(32, 32), nn.ReLU(),
    nn.Linear(32, 1),  # fix: output a raw logit, no nn.Sigmoid (BCEWithLogitsLoss applies it)
)
loss_fn = nn.BCEWithLogitsLoss()
opt = torch.optim.SGD(model.parameters(), lr=0.1)


def accuracy(out):
    return ((out > 0).float() == y).float().mean().item()  # fix: logit > 0 means p > 0.5 (was: out > 0.5)


batch_size = 32
step = 0
for epoch in range(60):
    perm = torch.randperm(n)
    for i in range(0, n, batch_size):
        idx = perm[i:i + batch_size]
        opt.zero_grad()
        loss = loss_fn(model(X[idx]), y[idx])
        loss.backward()
        opt.step()
        if step % 200 == 0:
            with torch.no_grad():
                out = model(X)
            print(f"step {step:5d}  loss {loss_fn(out, y).item():.4f}  accuracy {accuracy(out):.3f}")
        step += 1

with torch.no_grad():
    out = model(X)
p = y.mean().item()
print(f"final loss {loss_fn(out, y).item():.4f}  accuracy {accuracy(out):.3f}  "
      f"(guessing the class prior: {-(p * math.log(p) + (1 - p) * math.log(1 - p)):.4f})")
