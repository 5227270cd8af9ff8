"""Regress y = sin(x1) + x2*x3 - x4**2 from 4 standardised features with a 10-hidden-layer, width-32 sigmoid MLP trained by mini-batch SGD.

Each sigmoid layer scales the backward signal by at most 0.25, so after ten of
them the first layers get gradients about 1e-9 times those of the last
layer. Only the output layer learns anything (the mean of y), and the loss
stays at the predict-the-mean level.

Expected: FD401 vanishing-gradients, FD602 cannot-overfit-batch, FD204 collapsed-output, FD601 loss-not-decreasing
"""
import torch
import torch.nn as nn


def make_mlp(n_in, width=32, depth=10):
    layers = []
    for i in range(depth):
        linear = nn.Linear(n_in if i == 0 else width, width)
        layers += [linear, nn.Sigmoid()]
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


torch.manual_seed(0)

n = 1000
X = torch.randn(n, 4)  # features are already standardised
y = (torch.sin(X[:, 0]) + X[:, 1] * X[:, 2] - X[:, 3] ** 2).unsqueeze(1)

model = make_mlp(4)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
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
