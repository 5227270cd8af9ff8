"""Predict the received signal strength (standardised, dB) of a radio link from its distance and the antenna height, standardised, with a 2-32-32-1 tanh MLP, updated by hand: p -= lr * p.grad under torch.no_grad(), then model.zero_grad().

Same data, model, loss and update as broken.py; the only change is that each
input is standardised with its mean and std before it enters the network, so
the tanh units work in their sensitive range and the loss falls far below the
variance of y.

Expected: none
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
x = (x - x.mean(0)) / x.std(0)  # fix: standardise each input (was fed in metres)

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
