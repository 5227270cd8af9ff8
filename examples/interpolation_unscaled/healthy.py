"""Interpolate three mixing proportions as a function of x in [255, 200000] with a small Tanh/Softmax net on standardised inputs.

Same data, model and optimiser as broken.py; the only change is that x is
standardised with the training mean and std before it enters the network, so
the Tanh units work in their sensitive range.

Expected: none
"""
import torch
from torch import nn

torch.manual_seed(0)

# 200 measurement points; the three proportions change smoothly with x and sum to 1
x = torch.linspace(255.0, 200000.0, 200).unsqueeze(1)
s = x / 200000.0
logits = torch.cat([3 * torch.cos(4 * s), 3 * torch.sin(4 * s), 6 * s - 3], dim=1)
y = torch.softmax(logits, dim=1)

inputs = (x - x.mean()) / x.std()  # fix: standardise the input (was: inputs = x)

model = nn.Sequential(
    nn.Linear(1, 64),
    nn.Tanh(),
    nn.Linear(64, 3),
    nn.Softmax(dim=1),
)
loss_fn = nn.MSELoss()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)

for step in range(2000):
    opt.zero_grad()
    pred = model(inputs)
    loss = loss_fn(pred, y)
    loss.backward()
    opt.step()
    if step % 200 == 0:
        print(f"step {step:5d}  mse {loss.item():.5f}")

baseline = loss_fn(y.mean(0, keepdim=True).expand_as(y), y).item()
print(f"final mse {loss.item():.5f}  (predicting the mean mixture: {baseline:.5f})")
