"""Fit the 2-D surface z = sin(x) + 0.5 cos(2y) with a deep ReLU MLP (8 hidden layers of width 64) whose weights get Kaiming (He) normal init with zero biases, trained full-batch with SGD (lr 0.01).

Same data, model and optimiser as broken.py; the only change is the weight
init: nn.init.kaiming_normal_ with nonlinearity="relu" draws weights with std
sqrt(2 / fan_in), which keeps the activations' scale roughly constant through
the 8 ReLU layers, so the output depends on the input and the gradients reach
every layer.

Expected: none
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
        nn.init.kaiming_normal_(m.weight, nonlinearity="relu")  # fix: He init (was: std=0.01)
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
