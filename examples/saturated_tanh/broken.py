"""Regress y = sin(x1) + x2*x3 - x4**2 from 4 standardised features with a 6-hidden-layer, width-64 tanh MLP whose hidden weights are drawn like torch.randn (standard deviation 1), trained by Adam.

A tanh layer's pre-activation has standard deviation about std(w) * sqrt(fan_in)
times its input's; with std(w) = 1 and 64 inputs of size about 1 that is 8, so
most pre-activations lie beyond |z| = 3, where tanh is flat: for most inputs
the hidden units pass almost no gradient and answer with -1 or +1, and the
network fits the targets far worse than the same network initialised for
tanh. The output layer keeps PyTorch's default, so the predictions at init are
of the targets' size; the problem is the hidden layers alone.

Expected: FD302 saturated-activations
"""
import torch
import torch.nn as nn


def make_mlp(n_in, width=64, depth=6):
    layers = []
    for i in range(depth):
        linear = nn.Linear(n_in if i == 0 else width, width)
        nn.init.normal_(linear.weight)  # like torch.randn(fan_in, width): std 1
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
