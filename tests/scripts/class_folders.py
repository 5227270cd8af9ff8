"""Three classes of 10 features stored class after class (as a dataset built by walking one folder per class
is), loaded in batches of 256 by a DataLoader: with shuffle=False (the default), two of the four batches each
hold one class and the other two straddle a class boundary, so the samples arrive in one run per class.

Run with --shuffle for the healthy twin.
Expected: FD104 data-order
"""

import argparse

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

parser = argparse.ArgumentParser()
parser.add_argument("--shuffle", action="store_true")
args = parser.parse_args()

torch.manual_seed(0)
per_class = [340, 340, 344]
y = torch.cat([torch.full((n,), c) for c, n in enumerate(per_class)])
centres = 1.5 * torch.randn(3, 10)
x = centres[y] + torch.randn(len(y), 10)

loader = DataLoader(TensorDataset(x, y), batch_size=256, shuffle=args.shuffle)
model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 3))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
loss_fn = nn.CrossEntropyLoss()

for epoch in range(50):
    for xb, yb in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        optimizer.step()
with torch.no_grad():
    print(f"accuracy {(model(x).argmax(1) == y).float().mean():.3f}")
