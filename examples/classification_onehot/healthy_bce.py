"""Separate two concentric rings of points in 2-D (inner ring = 1, outer ring = 0) with a 2-64-64-1 ReLU MLP and BCEWithLogitsLoss on an (N, 1) float target.

The model outputs one raw logit per point with the same (N, 1) shape as the
float 0/1 target, and BCEWithLogitsLoss applies the sigmoid itself, which is
the numerically stable way to train a binary classifier. Adam at lr=1e-2
learns the circular boundary within a few hundred steps and the loss falls
far below log(2) = 0.69, the loss of the class prior.

Expected: none
"""
import math

import torch
import torch.nn as nn

torch.manual_seed(0)

n = 400  # points per ring
angle = torch.rand(2 * n) * 2 * math.pi
radius = torch.cat([0.5 + 0.2 * torch.randn(n), 1.5 + 0.2 * torch.randn(n)])
x = torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], dim=1)
y = torch.cat([torch.ones(n, 1), torch.zeros(n, 1)])

model = nn.Sequential(
    nn.Linear(2, 64), nn.ReLU(),
    nn.Linear(64, 64), nn.ReLU(),
    nn.Linear(64, 1),
)
criterion = nn.BCEWithLogitsLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

for step in range(1, 1001):
    optimizer.zero_grad()
    logits = model(x)
    loss = criterion(logits, y)
    loss.backward()
    optimizer.step()
    if step == 1 or step % 200 == 0:
        acc = ((logits > 0).float() == y).float().mean().item()
        print(f"step {step:4d} | loss {loss.item():.4g} | accuracy {acc:.3f}")

print(f"final loss {loss.item():.4g}, accuracy {acc:.3f} (class prior: loss {math.log(2):.4f}, accuracy 0.500)")
