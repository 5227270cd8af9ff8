"""Classify 600 points of a 4-arm spiral in 2-D with a 2-64-64-4 ReLU MLP that outputs raw logits, trained with nn.CrossEntropyLoss on integer labels and SGD (lr 0.1) in mini-batches of 32.

Same data, model and optimiser as broken.py; the only change is that the final
nn.Softmax is removed, so nn.CrossEntropyLoss gets the logits it expects and
applies the (single) log-softmax itself; the loss falls steadily towards 0.

Expected: none
"""
import math

import torch
from torch import nn

torch.manual_seed(0)

# 4 spiral arms, 150 noisy points each
n_per_class, n_classes = 150, 4
points, labels = [], []
for k in range(n_classes):
    r = torch.linspace(0.1, 1.0, n_per_class)
    theta = k * math.pi / 2 + 3 * r + 0.2 * torch.randn(n_per_class)
    points.append(torch.stack([r * torch.cos(theta), r * torch.sin(theta)], dim=1))
    labels.append(torch.full((n_per_class,), k))
X = torch.cat(points)
y = torch.cat(labels)

model = nn.Sequential(
    nn.Linear(2, 64), nn.ReLU(),
    nn.Linear(64, 64), nn.ReLU(),
    nn.Linear(64, n_classes),  # fix: output raw logits, no nn.Softmax (CrossEntropyLoss applies log-softmax)
)
loss_fn = nn.CrossEntropyLoss()
opt = torch.optim.SGD(model.parameters(), lr=0.1)

n, batch_size = len(X), 32
step = 0
for epoch in range(80):
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
                acc = (out.argmax(dim=1) == y).float().mean().item()
            print(f"step {step:5d}  loss {loss_fn(out, y).item():.4f}  accuracy {acc:.3f}")
        step += 1

with torch.no_grad():
    out = model(X)
    acc = (out.argmax(dim=1) == y).float().mean().item()
print(f"final loss {loss_fn(out, y).item():.4f}  accuracy {acc:.3f}  "
      f"(uniform guess: {math.log(n_classes):.4f})")
