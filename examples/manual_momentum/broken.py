"""Fit y = x1 + x2 + x3 + x4 with a 4-16-1 tanh MLP whose weights are updated by hand with momentum (a velocity
buffer per parameter, v = 0.9 v + grad; w -= 0.01 v) instead of with torch.optim.SGD(momentum=0.9).

The training itself works. But fitdoctor replays weights updated by hand only when the update is plain
gradient descent (w -= lr * w.grad), which it can measure step by step; an update with a state of its own
(momentum, Adam written by hand) can't be inferred from one step, so fitdoctor reports the setup as one it
can't replay yet, with the one-line torch.optim equivalent, instead of guessing.

Expected: FD903 unsupported-setup
"""

import torch
from torch import nn

torch.manual_seed(0)
x = torch.randn(256, 4)
y = x.sum(dim=1, keepdim=True)
model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1))
velocity = [torch.zeros_like(p) for p in model.parameters()]
for step in range(1, 301):
    loss = ((model(x) - y) ** 2).mean()
    loss.backward()
    with torch.no_grad():
        for p, v in zip(model.parameters(), velocity):
            v.mul_(0.9).add_(p.grad)
            p -= 0.01 * v
            p.grad = None
    if step == 1 or step % 100 == 0:
        print(f"step {step:3d} | loss {loss.item():.5f}")
