"""Classify three interleaved spirals with an MLP, a per-epoch StepLR stepped once per epoch.

The healthy twin of broken.py: the same StepLR(step_size=7, gamma=0.1),
stepped after the batch loop as it is meant to be, so Adam trains at 1e-2
for seven epochs, then at 1e-3.

Expected: none
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
