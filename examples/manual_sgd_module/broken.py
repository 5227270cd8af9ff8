"""Predict the received signal strength (standardised, dB) of a radio link from its distance (255 m to 200 km) and the antenna height (10 to 300 m) with a 2-32-32-1 tanh MLP, updated by hand: p -= lr * p.grad under torch.no_grad(), then model.zero_grad().

The two inputs are fed in metres. The first layer's pre-activations w*x + b
are then in the thousands, so every tanh unit of the first layer sits at +1
or -1 for every sample: the hidden layer is the same for every link, its
gradient is zero, and the output can only learn the mean signal strength.
The loss stays at the variance of y.

Expected: FD101 unscaled-inputs, FD302 saturated-activations, FD602 cannot-overfit-batch, FD601 loss-not-decreasing
"""
import torch
import torch.nn as nn

torch.manual_seed(0)

# 1000 radio links: distance [m], antenna height [m] -> signal strength
n = 1000
distance = 255 + (200_000 - 255) * torch.rand(n, 1)
height = 10 + 290 * torch.rand(n, 1)
y = -20 * torch.log10(distance) + 12 * torch.log10(height) * torch.sin(distance / 40_000)
y = (y - y.mean()) / y.std()

x = torch.cat([distance, height], dim=1)

model = nn.Sequential(
    nn.Linear(2, 32), nn.Tanh(),
    nn.Linear(32, 32), nn.Tanh(),
    nn.Linear(32, 1),
)
lr = 0.1

for step in range(1, 2001):
    loss = ((model(x) - y) ** 2).mean()
    loss.backward()
    with torch.no_grad():
        for p in model.parameters():
            p -= lr * p.grad
    model.zero_grad()
    if step == 1 or step % 400 == 0:
        print(f"step {step:4d} | loss {loss.item():.4f}")

print(f"final loss {loss.item():.4f}, variance of y {y.var().item():.4f}")
