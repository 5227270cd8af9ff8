"""Regress y = sin(2*x0) + x1*x2 from 32 Gaussian features with an encoder (32-64-8 MLP) followed by a head (8-64-1 MLP), trained end to end by Adam.

Same data, model and loss as broken.py; the only change is that the
optimizer is built on model.parameters(), so the encoder is trained together
with the head and learns features that carry x0, x1 and x2.

Expected: none
"""
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 8))
        self.head = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 1))

    def forward(self, x):
        return self.head(self.encoder(x))


torch.manual_seed(0)

x = torch.randn(4000, 32)
y = torch.sin(2 * x[:, :1]) + x[:, 1:2] * x[:, 2:3]

model = Net()
criterion = nn.MSELoss()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)  # fix: was model.head.parameters(), which left the encoder at its random init

for step in range(1, 1001):
    optimizer.zero_grad()
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()
    if step == 1 or step % 200 == 0:
        print(f"step {step:4d} | loss {loss.item():.4f}")

print(f"final loss {loss.item():.4f}, variance of y {y.var().item():.4f}")
