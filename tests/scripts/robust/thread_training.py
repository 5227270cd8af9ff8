"""Trains in a worker thread and joins it."""

import threading

import torch
from torch import nn


def train():
    torch.manual_seed(0)
    x = torch.randn(128, 3)
    y = x.sum(1, keepdim=True)
    model = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(400):
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
    print("final", loss.item())


worker = threading.Thread(target=train)
worker.start()
worker.join()
print("joined")
