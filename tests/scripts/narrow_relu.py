"""A deep and narrow ReLU regression: 8 hidden layers of 3 units at PyTorch's default init fit y = sin(x) on
[-pi, pi] (the benchmark's tiny_relu fault, Lu et al. 2020: born with dead units). With seed 0 two of the layers
lose most of their units at init; widening them with He init is the fix, each draw of its new weights replayed.

Run with --width 64 --depth 2 for the healthy twin.
Expected: FD301 dead-relu
"""

import argparse
import math

import torch
from torch import nn

parser = argparse.ArgumentParser()
parser.add_argument("--width", type=int, default=3)
parser.add_argument("--depth", type=int, default=8)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

torch.manual_seed(args.seed)
x = torch.rand(256, 1) * 2 * math.pi - math.pi
y = torch.sin(x)

layers: list[nn.Module] = []
width_in = 1
for _ in range(args.depth):
    layers += [nn.Linear(width_in, args.width), nn.ReLU()]
    width_in = args.width
model = nn.Sequential(*layers, nn.Linear(width_in, 1))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

for step in range(400):
    i = torch.randint(0, 256, (64,))
    optimizer.zero_grad()
    loss = nn.functional.mse_loss(model(x[i]), y[i])
    loss.backward()
    optimizer.step()
print(f"final loss {nn.functional.mse_loss(model(x), y).item():.4f}")
