"""Fit the 2-D surface z = sin(2x) * cos(y) with a 2-32-32-1 Tanh MLP whose weights and biases are all set to zero with nn.init.zeros_ ("start from a clean slate"), trained full-batch with Adam.

With every weight at zero, every hidden unit outputs tanh(0) = 0 and the output
is the bias alone, the same constant for every input. The gradients of all
weights are zero too (each is a product of a zero activation or a zero
downstream weight), so only the output bias ever moves: it learns the mean of z
and the loss stays at the loss of predicting the mean.

Expected: FD303 poor-initialization, FD602 cannot-overfit-batch, FD204 collapsed-output, FD601 loss-not-decreasing
"""
import torch
from torch import nn

torch.manual_seed(0)

# 512 random points on [-2, 2] x [-2, 2]
xy = torch.rand(512, 2) * 4 - 2
z = (torch.sin(2 * xy[:, 0]) * torch.cos(xy[:, 1])).unsqueeze(1)

model = nn.Sequential(
    nn.Linear(2, 32), nn.Tanh(),
    nn.Linear(32, 32), nn.Tanh(),
    nn.Linear(32, 1),
)
for m in model.modules():
    if isinstance(m, nn.Linear):
        nn.init.zeros_(m.weight)
        nn.init.zeros_(m.bias)

loss_fn = nn.MSELoss()
opt = torch.optim.Adam(model.parameters(), lr=1e-2)

for step in range(1000):
    opt.zero_grad()
    loss = loss_fn(model(xy), z)
    loss.backward()
    opt.step()
    if step % 100 == 0:
        print(f"step {step:4d}  loss {loss.item():.4f}")

with torch.no_grad():
    pred = model(xy)
print(f"final loss {loss_fn(pred, z).item():.4f}  (predicting the mean: {z.var(unbiased=False).item():.4f})  "
      f"prediction std {pred.std().item():.4f}")
