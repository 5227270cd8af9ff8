"""Fit y = x**2 on [-10, 10] with a 1-16-16-1 ReLU network trained by mini-batch SGD at lr=3e-3.

The targets go up to 100, so the first SGD updates are huge: they push the
ReLU pre-activations negative for every input, most units die within the
first few dozen steps, and the network ends up outputting one constant
(about the mean of y).

Expected: FD501 learning-rate-too-high, FD301 dead-relu, FD601 loss-not-decreasing
"""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


def main():
    torch.manual_seed(0)

    x = torch.rand(1000, 1) * 20 - 10
    y = x ** 2
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)

    model = nn.Sequential(
        nn.Linear(1, 16),
        nn.ReLU(),
        nn.Linear(16, 16),
        nn.ReLU(),
        nn.Linear(16, 1),
    )
    criterion = nn.MSELoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=3e-3)

    for epoch in range(40):
        epoch_loss = 0.0
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()
            epoch_loss += loss.item() * len(xb)
        if epoch % 5 == 0 or epoch == 39:
            print(f"epoch {epoch:2d}: loss {epoch_loss / len(x):.2f}")

    with torch.no_grad():
        pred = model(x)
    print(f"final train MSE {criterion(pred, y).item():.2f} (variance of y {y.var().item():.2f}), "
          f"output range {pred.min().item():.2f} .. {pred.max().item():.2f}")


if __name__ == "__main__":
    main()
