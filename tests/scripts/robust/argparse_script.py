"""Needs its own arguments, one of which (--format) clashes with fitdoctor's option of the same name."""

import argparse
import sys

import torch
from torch import nn

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, required=True)
parser.add_argument("--format", choices=["csv", "parquet"], required=True)
args = parser.parse_args()
print(f"script args: epochs={args.epochs} format={args.format}", file=sys.stderr, flush=True)

torch.manual_seed(0)
x = torch.linspace(-2, 2, 64).view(-1, 1)
y = x**2
model = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 1))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
for epoch in range(args.epochs):
    for i in range(0, 64, 16):
        optimizer.zero_grad()
        nn.functional.mse_loss(model(x[i : i + 16]), y[i : i + 16]).backward()
        optimizer.step()
