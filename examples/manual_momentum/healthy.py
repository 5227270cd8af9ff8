"""Fit y = x1 + x2 + x3 + x4 with a 4-16-1 tanh MLP trained by torch.optim.SGD with momentum 0.9: the same update
as the velocity buffers written by hand in broken.py, which fitdoctor can replay.

Expected: none
"""

import torch
from torch import nn

torch.manual_seed(0)
x = torch.randn(256, 4)
y = x.sum(dim=1, keepdim=True)
model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)  # fix: the torch.optim update
for step in range(1, 301):
    optimizer.zero_grad()
    loss = ((model(x) - y) ** 2).mean()
    loss.backward()
    optimizer.step()
    if step == 1 or step % 100 == 0:
        print(f"step {step:3d} | loss {loss.item():.5f}")
