"""DataLoader with 2 worker processes; the main process ignores SIGTERM and hangs after 3 steps.

Each worker prints its pid to stderr, so a test can check none is left running.
"""

import os
import signal
import sys
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def announce(worker_id: int) -> None:
    print("worker", os.getpid(), file=sys.stderr, flush=True)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    x = torch.randn(4096, 4)
    data = DataLoader(
        TensorDataset(x, x.sum(dim=1, keepdim=True)),
        batch_size=32,
        num_workers=2,
        worker_init_fn=announce,
        persistent_workers=True,
    )
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for step, (xb, yb) in enumerate(data):
        if step == 3:
            time.sleep(600)
        optimizer.zero_grad()
        nn.functional.mse_loss(model(xb), yb).backward()
        optimizer.step()
