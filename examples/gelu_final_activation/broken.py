"""Regress y = x*exp(x) - 10 on [-2, 2] with a 1-64-64-1 MLP that applies GELU after every layer, including the output layer.

GELU(z) is never below about -0.17, so the network cannot produce the targets,
which lie between about -10.4 and 4.8; the loss stays huge however long it trains.

Expected: FD201 output-range-mismatch, FD602 cannot-overfit-batch, FD601 loss-not-decreasing
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.fc1 = nn.Linear(1, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, 1)

    def forward(self, x):
        x = F.gelu(self.fc1(x))
        x = F.gelu(self.fc2(x))
        x = F.gelu(self.fc3(x))
        return x


torch.manual_seed(0)

x = torch.linspace(-2, 2, 256).unsqueeze(-1)
y = torch.exp(x) * x - 10

net = Net()
optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
mse = nn.MSELoss()

for it in range(1000):
    optimizer.zero_grad()
    loss = mse(net(x), y)
    loss.backward()
    optimizer.step()
    if it % 100 == 0:
        print(f"iter {it:4d} | loss {loss.item():.4f}")

print(f"done: final loss {loss.item():.4f}, target variance {y.var().item():.4f}, "
      f"min prediction {net(x).min().item():.3f}")
