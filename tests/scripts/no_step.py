"""Loop style: evaluation only; builds a model and an optimizer, computes one forward pass and loss, and never calls optimizer.step().

Expected: FD902 no-training-step
"""

import torch
from torch import nn

torch.manual_seed(0)

X = torch.rand(128, 2) * 2 - 1
Y = torch.sin(2 * X[:, :1]) + 0.5 * X[:, 1:]

model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)  # created but never stepped
loss_fn = nn.MSELoss()

model.eval()
with torch.no_grad():
    loss = loss_fn(model(X), Y)
print(f"eval loss {loss.item():.4f}")
