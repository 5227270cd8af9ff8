"""Regress y = sin(x1) + x2*x3 - x4**2 from 4 standardised features with a 6-hidden-layer, width-64 tanh MLP with Glorot (Xavier) init for tanh, trained by Adam.

Same depth, width, data, optimiser and loop as broken.py; the fix is Glorot
(Xavier) initialisation with tanh's gain 5/3 and zero biases, which keeps the
pre-activations near the steep part of tanh in every layer.

Expected: none
"""
import torch
import torch.nn as nn


def make_mlp(n_in, width=64, depth=6):
    layers = []
    for i in range(depth):
        linear = nn.Linear(n_in if i == 0 else width, width)
        nn.init.xavier_uniform_(linear.weight, gain=nn.init.calculate_gain("tanh"))  # fix: was std 1
        nn.init.zeros_(linear.bias)
        layers += [linear, nn.Tanh()]
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


torch.manual_seed(0)

n = 1000
X = torch.randn(n, 4)  # features are already standardised
y = (torch.sin(X[:, 0]) + X[:, 1] * X[:, 2] - X[:, 3] ** 2).unsqueeze(1)

model = make_mlp(4)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
loss_fn = nn.MSELoss()
batch_size = 64

for epoch in range(100):
    perm = torch.randperm(n)
    for start in range(0, n, batch_size):
        idx = perm[start:start + batch_size]
        optimizer.zero_grad()
        loss = loss_fn(model(X[idx]), y[idx])
        loss.backward()
        optimizer.step()
    if epoch % 10 == 0:
        print(f"epoch {epoch:3d}  batch loss {loss.item():.4f}")

with torch.no_grad():
    train_mse = loss_fn(model(X), y).item()
print(f"train MSE {train_mse:.4f}  vs. variance of y {y.var().item():.4f}")
