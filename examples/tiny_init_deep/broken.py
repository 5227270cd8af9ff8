"""Fit the 2-D surface z = sin(x) + 0.5 cos(2y) with a deep ReLU MLP (8 hidden layers of width 64) whose weights are initialised from N(0, 0.01^2) with zero biases ("small random numbers", as in old tutorials), trained full-batch with SGD (lr 0.01).

With std 0.01 and 64 inputs per unit, each Linear+ReLU layer multiplies the
signal's scale by about 0.01 * sqrt(64 / 2) = 0.057: the 8th hidden layer's
activations have std ~1e-11 and the output is the bias alone, the same for
every input. Every weight gradient is ~1e-11, so SGD cannot leave this point:
the output bias learns the mean of z and the loss stays at the loss of
predicting the mean.

Expected: FD303 poor-initialization, FD301 dead-relu, FD401 vanishing-gradients, FD204 collapsed-output, FD601 loss-not-decreasing
"""
import torch
from torch import nn

torch.manual_seed(0)

# 512 random points on [-2, 2] x [-2, 2]
xy = torch.rand(512, 2) * 4 - 2
z = (torch.sin(xy[:, 0]) + 0.5 * torch.cos(2 * xy[:, 1])).unsqueeze(1)

layers, width = [], 2
for _ in range(8):
    layers += [nn.Linear(width, 64), nn.ReLU()]
    width = 64
model = nn.Sequential(*layers, nn.Linear(64, 1))
for m in model.modules():
    if isinstance(m, nn.Linear):
        nn.init.normal_(m.weight, mean=0.0, std=0.01)
        nn.init.zeros_(m.bias)

loss_fn = nn.MSELoss()
opt = torch.optim.SGD(model.parameters(), lr=0.01)

for step in range(1500):
    opt.zero_grad()
    loss = loss_fn(model(xy), z)
    loss.backward()
    opt.step()
    if step % 100 == 0:
        print(f"step {step:4d}  loss {loss.item():.4f}")

with torch.no_grad():
    pred = model(xy)
print(f"final loss {loss_fn(pred, z).item():.4f}  (predicting the mean: {z.var(unbiased=False).item():.4f})  "
      f"prediction std {pred.std().item():.2e}")
