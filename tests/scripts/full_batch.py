"""Loop style: the whole dataset in one tensor, one optimizer step per epoch (full-batch gradient descent) for 500 epochs."""

import torch
from torch import nn

torch.manual_seed(0)

X = torch.rand(256, 2) * 2 - 1
Y = torch.sin(2 * X[:, :1]) + 0.5 * X[:, 1:]

model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
loss_fn = nn.MSELoss()

for epoch in range(500):
    optimizer.zero_grad()
    loss = loss_fn(model(X), Y)
    loss.backward()
    optimizer.step()
    if epoch % 50 == 0 or epoch == 499:
        print(f"epoch {epoch} loss {loss.item():.4f}")
