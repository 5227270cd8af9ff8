"""Loop style: none reached; the script raises FileNotFoundError while reading a missing csv before any model is built.

Expected: FD901 script-crashed
"""

import numpy as np
import torch
from torch import nn


def load_csv(path):
    with open(path) as f:
        rows = [line.strip().split(",") for line in f if line.strip()]
    return np.array(rows[1:], dtype=np.float32)


data = load_csv("data/does_not_exist.csv")
X = torch.from_numpy(data[:, :1])
Y = torch.from_numpy(data[:, 1:])

model = nn.Linear(1, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
loss_fn = nn.MSELoss()
for epoch in range(300):
    optimizer.zero_grad()
    loss = loss_fn(model(X), Y)
    loss.backward()
    optimizer.step()
