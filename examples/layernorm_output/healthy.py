"""Predict a smooth function of 4 standardised features with a 4-64-64-1 GELU MLP that ends in a plain Linear(64, 1), trained with MSE and Adam in mini-batches of 64.

Same data, model and optimiser as broken.py; the only change is that the
nn.LayerNorm(1) after the output layer is removed: normalising a single value
erases it, while without the norm the prediction depends on the input and the
loss falls well below the loss of predicting the mean.

Expected: none
"""
import torch
from torch import nn

torch.manual_seed(0)

n = 1024
X = torch.randn(n, 4)
y = (torch.sin(X[:, 0]) + 0.5 * X[:, 1] * X[:, 2] - 0.3 * X[:, 3] ** 2).unsqueeze(1)

model = nn.Sequential(
    nn.Linear(4, 64), nn.GELU(),
    nn.Linear(64, 64), nn.GELU(),
    nn.Linear(64, 1),  # fix: no nn.LayerNorm(1) after the single-output layer (it always outputs its bias)
)
loss_fn = nn.MSELoss()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)

batch_size = 64
step = 0
for epoch in range(100):
    perm = torch.randperm(n)
    for i in range(0, n, batch_size):
        idx = perm[i:i + batch_size]
        opt.zero_grad()
        loss = loss_fn(model(X[idx]), y[idx])
        loss.backward()
        opt.step()
        if step % 200 == 0:
            with torch.no_grad():
                mse = loss_fn(model(X), y).item()
            print(f"step {step:5d}  batch loss {loss.item():.4f}  full-data mse {mse:.4f}")
        step += 1

with torch.no_grad():
    pred = model(X)
print(f"final mse {loss_fn(pred, y).item():.4f}  (predicting the mean: {y.var(unbiased=False).item():.4f})  "
      f"prediction std {pred.std().item():.4f}")
