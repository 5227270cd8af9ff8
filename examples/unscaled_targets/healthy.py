"""Predict a house price (y between about 50,000 and 500,000) from 5 standardised features with a 5-64-64-1 ReLU MLP, MSE loss and Adam, in mini-batches of 64, on a standardised target.

Same data, model and optimiser as broken.py; the only change is that the
network is trained on (price - mean) / std and its predictions are mapped back
to price units (pred * std + mean) for evaluation, so the output the network
has to produce is of order 1 and Adam reaches it within a few hundred steps.

Expected: none
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

y_mean, y_std = y.mean(), y.std()  # fix: remember the target's mean and std
targets = (y - y_mean) / y_std  # fix: train on the standardised target (was: targets = y)

model = nn.Sequential(
    nn.Linear(5, 64), nn.ReLU(),
    nn.Linear(64, 64), nn.ReLU(),
    nn.Linear(64, 1),
)
loss_fn = nn.MSELoss()


def predict(inputs):
    return model(inputs) * y_std + y_mean  # fix: map predictions back to price units (was: model(inputs))


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
