"""Regress house-price-like targets from 8 features, the rows sorted by the target and loaded with shuffle=False.

The rows come sorted by the target, as a spreadsheet exported "by price"
does, and the DataLoader keeps that order (shuffle defaults to False):
each batch holds a thin slice of the target range, cheapest first. Every
stretch of steps pulls the predictions towards the current slice, so at
the end of each epoch the model predicts the most expensive rows' price
for everything: the mean squared error over all rows ends above the
targets' variance (worse than predicting the mean), while the same
network on shuffled batches (the healthy twin) fits them. The swings also
kill most units of the second ReLU layer (FD301, a consequence).

Expected: FD104 data-order, FD301 dead-relu
"""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
n = 2048
x = torch.randn(n, 8)
y = torch.sin(2 * x[:, :1]) + x[:, 1:2] * x[:, 2:3] + 0.5 * x[:, 3:4]
order = y[:, 0].argsort()  # the file is sorted by the target
x, y = x[order], y[order]

loader = DataLoader(TensorDataset(x, y), batch_size=32)  # shuffle defaults to False
model = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

for epoch in range(5):
    for xb, yb in loader:
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(xb), yb)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        mse = nn.functional.mse_loss(model(x), y)
    print(f"epoch {epoch}: MSE over all rows {mse:.3f} (target variance {y.var():.3f})")
