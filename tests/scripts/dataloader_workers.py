"""Loop style: mini-batches from a shuffled DataLoader with num_workers=2, everything under the __main__ guard."""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def build_data():
    g = torch.Generator().manual_seed(0)
    X = torch.rand(512, 2, generator=g) * 2 - 1
    Y = torch.sin(2 * X[:, :1]) + 0.5 * X[:, 1:]
    return TensorDataset(X, Y)


if __name__ == "__main__":
    torch.manual_seed(0)
    dataset = build_data()
    loader = DataLoader(dataset, batch_size=32, shuffle=True, num_workers=2)

    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = nn.MSELoss()

    step = 0
    for epoch in range(20):
        running = 0.0
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            step += 1
            running += loss.item()
        print(f"epoch {epoch} mean loss {running / len(loader):.4f} (steps {step})")
