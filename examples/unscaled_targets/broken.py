"""Predict a house price (y between about 50,000 and 500,000) from 5 standardised features with a 5-64-64-1 ReLU MLP, MSE loss and Adam, in mini-batches of 64.

The features are standardised but the target is fed in its raw units. The
network's output starts near 0 and Adam moves each weight by about lr = 1e-3
per step, so reaching outputs in the hundreds of thousands takes on the order of
1e5 steps; after 1500 steps the predictions are still far below the prices and
the loss is no better than predicting the mean price.

Expected: FD102 unscaled-targets, FD204 collapsed-output, FD601 loss-not-decreasing
"""
import torch
from torch import nn

torch.manual_seed(0)

# 2048 houses, 5 standardised features (size, rooms, age, distance, quality)
n = 2048
X = torch.randn(n, 5)
price = (250_000 + 60_000 * X[:, 0] + 30_000 * X[:, 1] - 25_000 * X[:, 2]
         + 20_000 * torch.tanh(2 * X[:, 3]) * X[:, 4] + 5_000 * torch.randn(n))
y = price.clamp(50_000, 500_000).unsqueeze(1)

targets = y

model = nn.Sequential(
    nn.Linear(5, 64), nn.ReLU(),
    nn.Linear(64, 64), nn.ReLU(),
    nn.Linear(64, 1),
)
loss_fn = nn.MSELoss()


def predict(inputs):
    return model(inputs)


opt = torch.optim.Adam(model.parameters(), lr=1e-3)

batch_size = 64
step = 0
for epoch in range(47):
    perm = torch.randperm(n)
    for i in range(0, n, batch_size):
        idx = perm[i:i + batch_size]
        opt.zero_grad()
        loss = loss_fn(model(X[idx]), targets[idx])
        loss.backward()
        opt.step()
        if step % 200 == 0:
            with torch.no_grad():
                mse = loss_fn(predict(X), y).item()
            print(f"step {step:5d}  batch loss {loss.item():.4g}  mse (price units) {mse:.4g}")
        step += 1

with torch.no_grad():
    mse = loss_fn(predict(X), y).item()
print(f"final mse {mse:.4g}  (predicting the mean price: {y.var(unbiased=False).item():.4g})")
