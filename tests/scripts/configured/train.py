"""Unscaled inputs (FD101) fed to a tanh net, with a configuration beside it.

The FD302 finding's line carries an inline suppression.
"""

import torch
from torch import nn

torch.manual_seed(0)
x = torch.linspace(255, 200000, 200).unsqueeze(1)
y = torch.sin(x / 30000)
model = nn.Sequential(
    nn.Linear(1, 32),
    nn.Tanh(),  # fitdoctor: ignore[FD302]
    nn.Linear(32, 1),
)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
for step in range(400):
    optimizer.zero_grad()
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    optimizer.step()
print("final", loss.item())
