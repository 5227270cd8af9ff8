"""Predict the last column of a 512x4 table of measurements from the first three with a 3-64-64-1 Tanh MLP, MSE loss and full-batch Adam.

The target is sliced out as table[:, -1], a 1-D tensor of shape (512,), while
the model outputs shape (512, 1). MSELoss broadcasts the pair to a 512x512
matrix (PyTorch only warns) and averages the error of every prediction against
every target, which is minimised by predicting the mean target for every row:
the loss settles at the variance of the target and the model learns nothing.

Expected: FD202 loss-shape-mismatch, FD602 cannot-overfit-batch, FD204 collapsed-output, FD601 loss-not-decreasing
"""
import torch
from torch import nn

torch.manual_seed(0)

# 512 rows: three sensor readings and the quantity we want to predict
n = 512
inputs = torch.randn(n, 3)
output = torch.sin(2 * inputs[:, 0]) + inputs[:, 1] * inputs[:, 2] + 0.05 * torch.randn(n)
table = torch.cat([inputs, output.unsqueeze(1)], dim=1)

features = table[:, :-1]
target = table[:, -1]

model = nn.Sequential(
    nn.Linear(3, 64), nn.Tanh(),
    nn.Linear(64, 64), nn.Tanh(),
    nn.Linear(64, 1),
)
loss_fn = nn.MSELoss()
opt = torch.optim.Adam(model.parameters(), lr=1e-2)

for step in range(1000):
    opt.zero_grad()
    pred = model(features)
    loss = loss_fn(pred, target)
    loss.backward()
    opt.step()
    if step % 100 == 0:
        print(f"step {step:4d}  loss {loss.item():.4f}")

print(f"final loss {loss.item():.4f}  (predicting the mean: {target.var(unbiased=False).item():.4f})")
