"""Regress y = sin(x0) + 0.5*x1*x2 from 8 Gaussian features with a 6-layer, width-64 ReLU MLP using PyTorch's default initialisation.

Same data, model and optimiser as broken.py; the only change is that the
weights keep nn.Linear's default init (uniform, scaled by 1/sqrt(fan_in))
instead of being redrawn from N(0, 1), so the activations and gradients stay
of order one and SGD with momentum fits the target.

Expected: none
"""
import torch
import torch.nn as nn

torch.manual_seed(0)

x = torch.randn(512, 8)
y = torch.sin(x[:, :1]) + 0.5 * x[:, 1:2] * x[:, 2:3]

model = nn.Sequential(
    nn.Linear(8, 64), nn.ReLU(),
    nn.Linear(64, 64), nn.ReLU(),
    nn.Linear(64, 64), nn.ReLU(),
    nn.Linear(64, 64), nn.ReLU(),
    nn.Linear(64, 64), nn.ReLU(),
    nn.Linear(64, 1),
)
# fix: keep the default init (removed the loop that redrew every parameter from N(0, 1))

criterion = nn.MSELoss()
optimizer = torch.optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)

for step in range(1, 1001):
    optimizer.zero_grad()
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()
    if step == 1 or step % 200 == 0:
        print(f"step {step:4d} | loss {loss.item():.4g}")

print(f"final loss {loss.item():.4g}, variance of y {y.var().item():.4f}")
