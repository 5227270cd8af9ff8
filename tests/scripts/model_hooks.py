"""A model whose own hooks are part of it: a forward pre-hook scales the raw inputs (in the thousands) and a
forward hook maps the output to the targets' units (a price around 2e5). Trained as written, it learns."""

import torch
from torch import nn

torch.manual_seed(0)
x = 1000 * torch.randn(1024, 4)
y = 2e5 + 3e4 * torch.tanh(x[:, :1] / 1000) - 2e4 * (x[:, 1:2] / 1000) ** 2

model = nn.Sequential(nn.Linear(4, 32), nn.Tanh(), nn.Linear(32, 1))
model.register_buffer("y_mean", y.mean(dim=0))
model.register_buffer("y_std", y.std(dim=0))
model.register_forward_pre_hook(lambda module, args: (args[0] / 1000,))
model.register_forward_hook(lambda module, args, output: output * module.y_std + module.y_mean)

opt = torch.optim.Adam(model.parameters(), lr=3e-3)
for step in range(300):
    idx = torch.randint(0, 1024, (64,))
    loss = nn.functional.mse_loss(model(x[idx]), y[idx])
    opt.zero_grad()
    loss.backward()
    opt.step()
print(f"final loss {loss.item():.4g} (target variance {y.var().item():.4g})")
