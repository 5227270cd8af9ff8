"""A regression whose target lacks the output's last dimension: PyTorch warns about the broadcast once, from
this script's loss line, and the run goes on."""

import torch
from torch import nn

torch.manual_seed(0)
x = torch.randn(128, 3)
y = x @ torch.tensor([1.0, -2.0, 0.5])  # shape (128,), the model's output is (128, 1)
model = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 1))
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
for _ in range(100):
    opt.zero_grad()
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    opt.step()
