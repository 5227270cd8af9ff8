"""Fit sin(x) from 10 points with a 1-50-25-12-1 ELU MLP, one sample per Adam step at lr=0.1.

Adam at lr=0.1 with single-sample updates throws the hidden pre-activations far
into the flat negative part of ELU within the first epochs; the gradients
vanish and the network ends up predicting the same value for every input, so
the loss never drops. `--activation tanh` fails the same way; with
`--activation relu` the units die instead (FD301 dead-relu).

Expected: FD501 learning-rate-too-high, FD302 saturated-activations, FD204 collapsed-output, FD601 loss-not-decreasing
"""
import argparse
import math

import torch
import torch.nn as nn

parser = argparse.ArgumentParser()
parser.add_argument("--activation", choices=["elu", "relu", "tanh"], default="elu")
parser.add_argument("--epochs", type=int, default=1000)
args = parser.parse_args()

torch.manual_seed(0)

x = torch.linspace(0, 2 * math.pi, 10).unsqueeze(1)
y = torch.sin(x)

Act = {"elu": nn.ELU, "relu": nn.ReLU, "tanh": nn.Tanh}[args.activation]
model = nn.Sequential(
    nn.Linear(1, 50), Act(),
    nn.Linear(50, 25), Act(),
    nn.Linear(25, 12), Act(),
    nn.Linear(12, 1),
)
criterion = nn.MSELoss()
optimizer = torch.optim.Adam(model.parameters(), lr=0.1)

for epoch in range(args.epochs):
    running = 0.0
    for i in range(len(x)):
        xi, yi = x[i:i + 1], y[i:i + 1]  # one sample, shape (1, 1)
        optimizer.zero_grad()
        loss = criterion(model(xi), yi)
        loss.backward()
        optimizer.step()
        running += loss.item()
    if epoch % 100 == 0 or epoch == args.epochs - 1:
        print(f"epoch {epoch:4d}  loss {running / len(x):.4f}")

with torch.no_grad():
    pred = model(x)
print(f"final MSE {criterion(pred, y).item():.4f}, "
      f"prediction max-min {(pred.max() - pred.min()).item():.4f}")
