"""A ~100M-parameter MLP (six 4096x4096 layers) on a regression, batches of 8, SGD with momentum: large for a
CPU, healthy otherwise."""

import torch
from torch import nn

torch.manual_seed(0)
width = 4096
layers: list[nn.Module] = [nn.Linear(256, width), nn.ReLU()]
for _ in range(6):
    layers += [nn.Linear(width, width), nn.ReLU()]
model = nn.Sequential(*layers, nn.Linear(width, 1))
print(f"parameters: {sum(p.numel() for p in model.parameters()):,}", flush=True)
optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
g = torch.Generator().manual_seed(1)
w = torch.randn(256, 1, generator=g) / 16
for step in range(10**6):
    x = torch.randn(8, 256, generator=g)  # small batches: the weights, not the data, make it large
    optimizer.zero_grad()
    loss = nn.functional.mse_loss(model(x), torch.tanh(x @ w))
    loss.backward()
    optimizer.step()
