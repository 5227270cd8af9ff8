"""A healthy regression that, like many real scripts, writes next to itself while it trains: it truncates its log,
saves a checkpoint, deletes a stale file, and leaves a temporary folder behind."""

import os
import tempfile

import torch
from torch import nn

torch.manual_seed(0)
x = torch.randn(256, 4)
y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1))
opt = torch.optim.Adam(model.parameters(), lr=1e-2)

with open("train.log", "w") as log:  # truncates the existing log
    log.write("started\n")
if os.path.exists("stale.txt"):
    os.remove("stale.txt")
scratch = tempfile.mkdtemp(prefix="writes-files-")
with open(os.path.join(scratch, "cache.bin"), "wb") as fh:
    fh.write(b"cache")
print(f"mkdtemp {scratch}", flush=True)

for step in range(300):
    opt.zero_grad()
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    opt.step()
    if step % 100 == 0:
        torch.save(model.state_dict(), "checkpoint.pt")
