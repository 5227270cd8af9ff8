"""Loop style: full-batch linear regression on data/points.csv read relative to the current working directory."""

import csv

import torch
from torch import nn

torch.manual_seed(0)

with open("data/points.csv", newline="") as f:
    rows = [(float(r["x"]), float(r["y"])) for r in csv.DictReader(f)]

data = torch.tensor(rows)
X, Y = data[:, :1], data[:, 1:]

model = nn.Linear(1, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
loss_fn = nn.MSELoss()

for epoch in range(300):
    optimizer.zero_grad()
    loss = loss_fn(model(X), Y)
    loss.backward()
    optimizer.step()
    if epoch % 50 == 0 or epoch == 299:
        print(f"epoch {epoch} loss {loss.item():.4f}")

w, b = model.weight.item(), model.bias.item()
print(f"fitted y = {w:.3f} x + {b:.3f}")
