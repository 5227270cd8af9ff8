"""Regress y = x0*x1 + sin(2*x2) from 3 uniform features with a 3-64-64-1 ReLU MLP whose forward(x, y) returns the loss itself, Hugging Face style.

The model trains fine: Adam drives the loss far below the variance of y. But
the prediction never leaves forward() on its own: the loss is computed inside
the model, so fitdoctor can't separate the prediction from the loss to replay
them with and without a fix; it reports the setup as unsupported instead of
guessing.

Expected: FD903 unsupported-setup
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class Regressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(3, 64), nn.ReLU(),
            nn.Linear(64, 64), nn.ReLU(),
            nn.Linear(64, 1),
        )

    def forward(self, x, y):
        pred = self.net(x)
        return {"loss": F.mse_loss(pred, y), "pred": pred}


torch.manual_seed(0)

x = torch.rand(1000, 3) * 4 - 2
y = x[:, :1] * x[:, 1:2] + torch.sin(2 * x[:, 2:])

model = Regressor()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

for step in range(1, 1001):
    optimizer.zero_grad()
    out = model(x, y)
    loss = out["loss"]
    loss.backward()
    optimizer.step()
    if step == 1 or step % 200 == 0:
        print(f"step {step:4d} | loss {loss.item():.4f}")

print(f"final loss {loss.item():.4f}, variance of y {y.var().item():.4f}")
