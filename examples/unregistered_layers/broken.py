"""Regress a smooth function of 8 features with a residual MLP whose hidden blocks are kept in a plain Python list.

`self.blocks = [Block(64) for _ in range(3)]` builds the blocks and
`forward` runs them, but nn.Module registers an attribute only when it is a
module, a parameter or a ModuleList/ModuleDict: a list is invisible to
`model.parameters()`. The optimizer gets the input and output layers only;
the three blocks compute gradients at every backward pass and keep their
random initial weights (a mistake the PyTorch docs' nn.ModuleList entry
exists for). The loss stalls well above what the same network reaches
with nn.ModuleList (the healthy twin).

Expected: FD504 params-not-updated
"""
import torch
from torch import nn

torch.manual_seed(0)
x = torch.randn(2048, 8)
y = torch.sin(2 * x[:, :1]) + x[:, 1:2] * x[:, 2:3] + 0.5 * x[:, 3:4] ** 2


class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.linear = nn.Linear(width, width)

    def forward(self, h):
        return h + torch.relu(self.linear(h))


class ResidualMLP(nn.Module):
    def __init__(self, width=64):
        super().__init__()
        self.inp = nn.Linear(8, width)
        self.blocks = [Block(width) for _ in range(3)]
        self.out = nn.Linear(width, 1)

    def forward(self, x):
        h = torch.relu(self.inp(x))
        for block in self.blocks:
            h = block(h)
        return self.out(h)


model = ResidualMLP()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
print(f"parameters the optimizer sees: {sum(p.numel() for p in model.parameters()):,}")

for epoch in range(10):
    for i in range(0, 2048, 64):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x[i : i + 64]), y[i : i + 64])
        loss.backward()
        optimizer.step()
    print(f"epoch {epoch}: loss {loss.item():.4f}")
