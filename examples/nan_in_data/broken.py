"""Predict a patient's blood-test score from 6 clinical measurements with a 6-64-64-1 ReLU MLP, MSE loss and Adam, where 3% of the "cholesterol" column is missing and stored as NaN (as pandas reads empty CSV cells).

A NaN in any input row makes that row's prediction NaN, so the loss of the
first mini-batch that contains one is NaN; its NaN gradients are written into
every weight by the optimizer step, and from then on every prediction and every
loss is NaN. With 64 rows per batch almost every batch holds a missing value.

Expected: FD103 nonfinite-data, FD402 exploding-gradients
"""
import numpy as np
import torch
from torch import nn

torch.manual_seed(0)
rng = np.random.default_rng(0)

# 1500 patients: age, bmi, blood pressure, cholesterol, glucose, activity (standardised)
n = 1500
X = rng.normal(size=(n, 6)).astype(np.float32)
y = (1.5 * X[:, 0] + np.sin(2 * X[:, 1]) + X[:, 2] * X[:, 3] - 0.8 * X[:, 4]
     + 0.1 * rng.normal(size=n)).astype(np.float32)
X[rng.random(n) < 0.03, 3] = np.nan  # empty cells in the cholesterol column

features = torch.from_numpy(X)
target = torch.from_numpy(y).unsqueeze(1)

model = nn.Sequential(
    nn.Linear(6, 64), nn.ReLU(),
    nn.Linear(64, 64), nn.ReLU(),
    nn.Linear(64, 1),
)
loss_fn = nn.MSELoss()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)

batch_size = 64
step = 0
for epoch in range(40):
    perm = torch.randperm(n)
    for i in range(0, n, batch_size):
        idx = perm[i:i + batch_size]
        opt.zero_grad()
        loss = loss_fn(model(features[idx]), target[idx])
        loss.backward()
        opt.step()
        if step % 200 == 0:
            print(f"step {step:5d}  loss {loss.item():.4f}")
        step += 1

with torch.no_grad():
    mse = loss_fn(model(features), target).item()
print(f"final mse {mse:.4f}  (predicting the mean: {target.var(unbiased=False).item():.4f})")
