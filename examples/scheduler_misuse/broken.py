"""Classify three interleaved spirals with an MLP, a per-epoch StepLR stepped after every batch.

StepLR(step_size=7, gamma=0.1) is the PyTorch transfer-learning tutorial's
schedule, meant for one step per epoch: divide the learning rate by ten
every seven epochs. Moved into the batch loop (the most common scheduler
slip, e.g. "Demystifying PyTorch Learning Rate Schedulers: Common Pitfalls
and Solutions", runebook.dev, 2025), it divides it by ten every seven
batches: after 21 batches Adam steps at 1e-5, and the spirals, which need a
few hundred steps at 1e-2, are barely learned (39 % accuracy on three
classes after 20 epochs, against 100 % for the healthy twin).

Expected: FD506 scheduler-misuse, FD601 loss-not-decreasing
"""
import math

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
n = 1500
arm = torch.arange(n) % 3
t = torch.rand(n) * 3 + 0.3
angle = t * 2.2 + arm * 2 * math.pi / 3
x = torch.stack([t * torch.cos(angle), t * torch.sin(angle)], 1) / 2 + 0.05 * torch.randn(n, 2)
y = arm

loader = DataLoader(TensorDataset(x, y), batch_size=50, shuffle=True)
model = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 3))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=7, gamma=0.1)

for epoch in range(20):
    for xb, yb in loader:
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(xb), yb)
        loss.backward()
        optimizer.step()
        scheduler.step()
    with torch.no_grad():
        accuracy = (model(x).argmax(1) == y).float().mean()
    print(f"epoch {epoch}: loss {loss.item():.3f}, accuracy {accuracy:.2f}, lr {scheduler.get_last_lr()[0]:.1e}")
