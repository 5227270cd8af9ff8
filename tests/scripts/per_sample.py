"""Loop style: iterates over samples one at a time (each x is a (1, F) tensor) with an optimizer step per sample."""

import torch
from torch import nn

torch.manual_seed(0)

X = torch.rand(100, 2) * 2 - 1
Y = X[:, :1] * 1.5 - X[:, 1:] * 0.5 + 0.3

model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
loss_fn = nn.MSELoss()

step = 0
for epoch in range(4):
    running = 0.0
    for i in range(X.shape[0]):
        x = X[i : i + 1]  # shape (1, 2)
        y = Y[i : i + 1]  # shape (1, 1)
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        step += 1
        running += loss.item()
    print(f"epoch {epoch} mean loss {running / X.shape[0]:.4f} (steps {step})")
