"""A classifier whose loss is written by hand, as people copy it from docs and courses.

`--loss logistic`: two half-moons, a 2-32-32-1 MLP and the numerically stable logistic loss of the TensorFlow
docs, max(x, 0) - x * z + log(1 + exp(-|x|)), which expects logits. `--loss gather`: three Gaussian blobs, a
2-32-32-3 MLP and cross-entropy as -log_softmax(out).gather(1, y.view(-1, 1)).mean(). `--loss nn` and
`--loss nn-ce` are the same with torch's own losses.

`--broken` ends the binary model in nn.Sigmoid (the loss applies a sigmoid again: its outputs are squashed into
(0.5, 0.73)) and the 3-class model in nn.ReLU (negative logits cut to 0). Both are FD203 mistakes, which
fitdoctor can only see when it knows which loss the objective is.
"""

import argparse
import math

import torch
import torch.nn.functional as F
from torch import nn

parser = argparse.ArgumentParser()
parser.add_argument("--loss", choices=["logistic", "nn", "gather", "nn-ce"], default="logistic")
parser.add_argument("--broken", action="store_true")
args = parser.parse_args()
binary = args.loss in ("logistic", "nn")

torch.manual_seed(0)
n = 768
if binary:
    t = torch.rand(n) * math.pi
    label = torch.rand(n) < 0.5
    upper = torch.stack([torch.cos(t), torch.sin(t)], dim=1)
    lower = torch.stack([1 - torch.cos(t), 0.5 - torch.sin(t)], dim=1)
    x = torch.where(label.unsqueeze(1), lower, upper) + 0.1 * torch.randn(n, 2)
    y = label.float().unsqueeze(1)
else:
    y = torch.randint(0, 3, (n,))
    centres = torch.tensor([[0.0, 1.5], [-1.3, -0.75], [1.3, -0.75]])
    x = centres[y] + 0.6 * torch.randn(n, 2)

last = nn.Sigmoid() if binary else nn.ReLU()
model = nn.Sequential(
    nn.Linear(2, 32),
    nn.ReLU(),
    nn.Linear(32, 32),
    nn.ReLU(),
    nn.Linear(32, 1 if binary else 3),
    *([last] if args.broken else []),
)


def criterion(out, target):
    if args.loss == "logistic":
        return (out.clamp(min=0) - out * target + torch.log1p(torch.exp(-out.abs()))).mean()
    if args.loss == "gather":
        return -torch.log_softmax(out, dim=1).gather(1, target.view(-1, 1)).mean()
    if args.loss == "nn":
        return F.binary_cross_entropy_with_logits(out, target)
    return F.cross_entropy(out, target)


optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for epoch in range(40):
    order = torch.randperm(n)
    for i in range(0, n, 32):
        xb, yb = x[order[i : i + 32]], y[order[i : i + 32]]
        optimizer.zero_grad()
        loss = criterion(model(xb), yb)
        loss.backward()
        optimizer.step()
print(f"final loss {loss.item():.4f}")
