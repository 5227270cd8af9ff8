"""Regress y = sin(2*x0) + x1*x2 from 32 Gaussian features with an encoder (32-64-8 MLP) followed by a head (8-64-1 MLP), whose forward() detaches the encoder output before the head.

The .detach() was added "to save memory", but it cuts the graph between the
two parts: backward() stops at the head, the encoder's .grad stays None and
Adam never moves it. The head only sees 8 random mixtures of the 32 inputs,
which carry almost nothing about x0, x1 and x2, so the loss stays close to
the variance of y (the loss of predicting the mean).

Expected: FD504 params-not-updated, FD601 loss-not-decreasing
"""
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 8))
        self.head = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 1))

    def forward(self, x):
        features = self.encoder(x).detach()  # no need to keep the encoder graph around
        return self.head(features)


torch.manual_seed(0)

x = torch.randn(4000, 32)
y = torch.sin(2 * x[:, :1]) + x[:, 1:2] * x[:, 2:3]

model = Net()
criterion = nn.MSELoss()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

for step in range(1, 1001):
    optimizer.zero_grad()
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()
    if step == 1 or step % 200 == 0:
        print(f"step {step:4d} | loss {loss.item():.4f}")

print(f"final loss {loss.item():.4f}, variance of y {y.var().item():.4f}")
