"""Fit sin(x) on [-pi, pi] with a 1-64-1 ReLU network using He (Kaiming) init and zero biases, trained full-batch with Adam.

Same data, loss, optimiser and loop as broken.py; the fix is in the model:
64 hidden units instead of 4, and He-initialised weights with zero biases
instead of U(-0.05, 0.05) for everything, so the units neither die nor
collapse onto one kink.

Expected: none
"""
import math

import matplotlib.pyplot as plt
import torch
from torch import nn


class TinyNet(nn.Module):
    def __init__(self, hidden=64):  # fix: was 4 hidden units
        super().__init__()
        self.hidden = nn.Linear(1, hidden)
        self.out = nn.Linear(hidden, 1)
        for layer in (self.hidden, self.out):  # fix: was uniform_(p, -0.05, 0.05) for every parameter
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            nn.init.zeros_(layer.bias)

    def forward(self, x):
        return self.out(torch.relu(self.hidden(x)))


torch.manual_seed(1)
x = torch.linspace(-math.pi, math.pi, 100).view(-1, 1)
y = torch.sin(x)

model = TinyNet()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
loss_fn = nn.MSELoss()

for step in range(2000):
    optimizer.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.step()
    if step % 250 == 0:
        print(f"step {step}: loss={loss.item():.4f}")
print(f"final loss={loss.item():.4f}")

with torch.no_grad():
    plt.plot(x, y, label="sin(x)")
    plt.plot(x, model(x), label="network")
plt.legend()
plt.show()
