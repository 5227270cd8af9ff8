"""Loop style: a normal mini-batch loop that crashes at step 4 with a ValueError raised from a user helper function (load_batch).

Expected: FD901 script-crashed
"""

import torch
from torch import nn

torch.manual_seed(0)

X = torch.rand(512, 2) * 2 - 1
Y = torch.sin(2 * X[:, :1]) + 0.5 * X[:, 1:]


def load_batch(i, batch_size=32):
    if i == 4:
        raise ValueError("corrupt batch 4")
    start = (i * batch_size) % X.shape[0]
    return X[start : start + batch_size], Y[start : start + batch_size]


model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
loss_fn = nn.MSELoss()

for step in range(1, 301):
    xb, yb = load_batch(step)
    optimizer.zero_grad()
    loss = loss_fn(model(xb), yb)
    loss.backward()
    optimizer.step()
    print(f"step {step} loss {loss.item():.4f}")
