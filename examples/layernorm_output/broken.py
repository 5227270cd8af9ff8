"""Predict a smooth function of 4 standardised features with a 4-64-64-1 GELU MLP whose final Linear(64, 1) is followed by nn.LayerNorm(1) (copied from a transformer block), trained with MSE and Adam in mini-batches of 64.

LayerNorm normalises over the last dimension, which here holds a single value:
x - mean(x) is exactly 0, so the layer outputs its bias for every input and no
gradient reaches the layers before it. The prediction is one constant that
learns the mean target; the loss stays at the loss of predicting the mean, and
even a single batch cannot be overfitted.

Expected: FD602 cannot-overfit-batch, FD204 collapsed-output, FD601 loss-not-decreasing
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
    nn.Linear(64, 1),
    nn.LayerNorm(1),
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
