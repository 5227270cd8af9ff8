"""Interpolate three mixing proportions as a function of a raw quantity x in [255, 200000] with a small Tanh/Softmax net.

The input is fed in its raw units: the hidden pre-activations w*x + b are in
the hundreds to thousands, so almost all Tanh units sit at +1 or -1 for every
sample, the hidden layer is constant and the output can only learn the
average mixture.

Expected: FD101 unscaled-inputs, FD302 saturated-activations, FD602 cannot-overfit-batch, FD204 collapsed-output, FD601 loss-not-decreasing
"""
import torch
from torch import nn

torch.manual_seed(0)

# 200 measurement points; the three proportions change smoothly with x and sum to 1
x = torch.linspace(255.0, 200000.0, 200).unsqueeze(1)
s = x / 200000.0
logits = torch.cat([3 * torch.cos(4 * s), 3 * torch.sin(4 * s), 6 * s - 3], dim=1)
y = torch.softmax(logits, dim=1)

inputs = x

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
