"""Predict, for 2048 listed houses, both the property type (3 classes) and the price (about $50,000 to $500,000) from 6 standardised features with one shared 6-64-64 ReLU trunk and two heads, loss = F.cross_entropy(logits, cls) + F.mse_loss(reg, price), Adam.

The price is fed in dollars. Its squared error is ~1e10, so the total loss
and every gradient through the trunk are the price term's, and Adam moves
the shared weights for the price alone. Even so, the price head's output,
moving by about lr = 1e-3 per step, is still far below the prices after 600
steps (its MSE is about 13x the variance of the price), and the trunk learns
nothing the type head can use: the type accuracy stays at about the share of
the most common type.

Expected: FD102 unscaled-targets
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class HouseModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(6, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU())
        self.type_head = nn.Linear(64, 3)
        self.price_head = nn.Linear(64, 1)

    def forward(self, x):
        h = self.trunk(x)
        return self.type_head(h), self.price_head(h).squeeze(-1)


torch.manual_seed(0)

n = 2048
x = torch.randn(n, 6)
cls = (x[:, 3] * x[:, 4] > 0).long() + (torch.sin(2 * x[:, 5]) > 0.5).long()
dollars = 250_000 + 60_000 * x[:, 0] + 30_000 * x[:, 1] - 25_000 * torch.tanh(2 * x[:, 2]) + 20_000 * (cls - 1)
dollars = dollars.clamp(50_000, 500_000)

price = dollars

model = HouseModel()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

for step in range(1, 601):
    optimizer.zero_grad()
    logits, reg = model(x)
    loss = F.cross_entropy(logits, cls) + F.mse_loss(reg, price)
    loss.backward()
    optimizer.step()
    if step == 1 or step % 200 == 0:
        print(f"step {step:4d} | loss {loss.item():.4g}")

acc = (logits.argmax(-1) == cls).float().mean().item()
mse = F.mse_loss(reg, price).item() / price.var().item()
print(f"type accuracy {acc:.3f} (most common type: {cls.bincount().max().item() / n:.3f}); "
      f"price MSE / price variance {mse:.4f}")
