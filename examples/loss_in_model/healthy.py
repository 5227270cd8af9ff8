"""Regress y = x0*x1 + sin(2*x2) from 3 uniform features with a 3-64-64-1 ReLU MLP whose forward(x) returns the prediction; the loop computes the loss with nn.MSELoss.

Same data, model and optimiser as broken.py; the only change is that the
loss moved out of forward() into the loop, so the model returns its
prediction and nn.MSELoss compares it with y. It trains the same, and
fitdoctor can see the model's output, the loss and the targets.

Expected: none
"""
import torch
import torch.nn as nn


class Regressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(3, 64), nn.ReLU(),
            nn.Linear(64, 64), nn.ReLU(),
            nn.Linear(64, 1),
        )

    def forward(self, x):  # fix: takes only x (was forward(x, y))
        return self.net(x)  # fix: returns the prediction (was a dict with the loss inside)


torch.manual_seed(0)

x = torch.rand(1000, 3) * 4 - 2
y = x[:, :1] * x[:, 1:2] + torch.sin(2 * x[:, 2:])

model = Regressor()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
criterion = nn.MSELoss()  # fix: the loss lives in the script, not in the model

for step in range(1, 1001):
    optimizer.zero_grad()
    pred = model(x)  # fix: was out = model(x, y)
    loss = criterion(pred, y)  # fix: was loss = out["loss"]
    loss.backward()
    optimizer.step()
    if step == 1 or step % 200 == 0:
        print(f"step {step:4d} | loss {loss.item():.4f}")

print(f"final loss {loss.item():.4f}, variance of y {y.var().item():.4f}")
