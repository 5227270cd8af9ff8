"""One regression, three ways to reduce its loss: mean, sum, or a sum divided by the batch size by hand.

`--broken` puts a GELU after the last layer against targets below its minimum (-0.17): no weights fit
them. fitdoctor's verdicts must not depend on how the loss is reduced.
"""

import argparse

import torch
import torch.nn.functional as F
from torch import nn

parser = argparse.ArgumentParser()
parser.add_argument("--reduction", choices=["mean", "sum", "manual"], default="mean")
parser.add_argument("--broken", action="store_true")
args = parser.parse_args()

torch.manual_seed(0)
x = torch.linspace(-2, 2, 256).unsqueeze(1)
y = torch.exp(x) * x - 3


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(1, 64), nn.Linear(64, 64), nn.Linear(64, 1)

    def forward(self, x):
        x = torch.tanh(self.fc2(torch.tanh(self.fc1(x))))
        out = self.fc3(x)
        return F.gelu(out) if args.broken else out


model = Net()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
shuffle = torch.Generator().manual_seed(1)
for epoch in range(50):
    order = torch.randperm(256, generator=shuffle)  # x is a linspace: batches in its order would be thin slices
    for i in range(0, 256, 32):
        xb, yb = x[order[i : i + 32]], y[order[i : i + 32]]
        optimizer.zero_grad()
        pred = model(xb)
        if args.reduction == "mean":
            loss = F.mse_loss(pred, yb)
        elif args.reduction == "sum":
            loss = F.mse_loss(pred, yb, reduction="sum")
        else:
            loss = F.mse_loss(pred, yb, reduction="sum") / len(xb)
        loss.backward()
        optimizer.step()
print(f"final loss {loss.item():.4f}")
