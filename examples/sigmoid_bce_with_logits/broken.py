"""Separate two interleaved half-moons (800 points in 2-D) with a 2-32-32-1 ReLU MLP that ends in nn.Sigmoid(), trained with nn.BCEWithLogitsLoss and SGD (lr 0.1) in mini-batches of 32.

nn.BCEWithLogitsLoss applies a sigmoid itself, so the model's probabilities in
(0, 1) are squashed a second time into (0.5, 0.73): the loss can never go below
about 0.50 (against 0.69 for guessing the class prior), and the gradients are
scaled down by the first sigmoid's slope. The loss crawls from 0.72 to about
0.54 while the healthy twin goes below 0.01.

Expected: FD203 loss-activation-mismatch
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
    nn.Linear(32, 1),
    nn.Sigmoid(),
)
loss_fn = nn.BCEWithLogitsLoss()
opt = torch.optim.SGD(model.parameters(), lr=0.1)


def accuracy(out):
    return ((out > 0.5).float() == y).float().mean().item()


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
