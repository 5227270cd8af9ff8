"""A linear model trained on sparse COO inputs through torch.sparse.mm."""

import torch
from torch import nn

torch.manual_seed(0)
dense = torch.randn(64, 4) * (torch.rand(64, 4) > 0.5)
x = dense.to_sparse()
y = dense.sum(1, keepdim=True)
w = nn.Parameter(torch.randn(4, 1) * 0.1)
opt = torch.optim.SGD([w], lr=0.1)
for _ in range(50):
    opt.zero_grad()
    loss = nn.functional.mse_loss(torch.sparse.mm(x, w), y)
    loss.backward()
    opt.step()
