"""Classify a 3-arm spiral (600 points in 2-D) with a 2-64-64-3 ReLU MLP trained full-batch by SGD at lr=10 (its --lr option's default) with CrossEntropyLoss.

lr=10 is far too large for this network: the first steps throw the weights
far past any minimum (weight norms grow to ~50-700), every unit of the second
hidden layer dies, and the output collapses to the last layer's bias, which
keeps overshooting. The loss bounces between 1.1 and 3 (log(3) = 1.10 is the
loss of the class prior) and the accuracy stays at 1/3.

Expected: FD501 learning-rate-too-high, FD301 dead-relu, FD204 collapsed-output, FD601 loss-not-decreasing
"""
import argparse
import math

import torch
import torch.nn as nn

parser = argparse.ArgumentParser(description="Classify a 3-arm spiral with a small ReLU MLP.")
parser.add_argument("--lr", type=float, default=10.0, help="SGD learning rate")
parser.add_argument("--steps", type=int, default=1000)
args = parser.parse_args()

torch.manual_seed(0)

n = 200  # points per class
labels = torch.arange(3).repeat_interleave(n)
r = torch.linspace(0.1, 1.0, n).repeat(3)
theta = labels * 2 * math.pi / 3 + 4 * r + 0.2 * torch.randn(3 * n)
x = torch.stack([r * torch.sin(theta), r * torch.cos(theta)], dim=1)

model = nn.Sequential(
    nn.Linear(2, 64), nn.ReLU(),
    nn.Linear(64, 64), nn.ReLU(),
    nn.Linear(64, 3),
)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=args.lr)

for step in range(1, args.steps + 1):
    optimizer.zero_grad()
    logits = model(x)
    loss = criterion(logits, labels)
    loss.backward()
    optimizer.step()
    if step == 1 or step % 200 == 0:
        acc = (logits.argmax(dim=1) == labels).float().mean().item()
        print(f"step {step:4d} | loss {loss.item():.4f} | accuracy {acc:.3f}")

print(f"final loss {loss.item():.4f}, accuracy {acc:.3f} (chance: loss {math.log(3):.4f}, accuracy 0.333)")
