"""Fit sin(x) on [-pi, pi] with a 1-4-1 ReLU network whose weights and biases are all initialised U(-0.05, 0.05), trained full-batch with Adam.

With such a tiny init every hidden unit starts almost the same. Within the
first hundred updates one unit is pushed off the data (dead) and the three
survivors move together onto the same kink, so the layer works like a single
unit and the fit is one ReLU-shaped kink instead of a sine wave (loss stuck at
0.166, a third of predicting the mean). Seeds 1-4 all end this way; seed 0
ends with two dead units and two mirrored kinks (loss 0.153).

Expected: FD303 poor-initialization, FD301 dead-relu
"""
import math

import matplotlib.pyplot as plt
import torch
from torch import nn


class TinyNet(nn.Module):
    def __init__(self, hidden=4):
        super().__init__()
        self.hidden = nn.Linear(1, hidden)
        self.out = nn.Linear(hidden, 1)
        for p in self.parameters():
            nn.init.uniform_(p, -0.05, 0.05)  # Keras-style RandomUniform init

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
