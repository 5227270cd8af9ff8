"""A tabular regression MLP as people write it: standardised features, a DataLoader, Adam, epochs, validation."""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
n, d = 20_000, 32
x = torch.randn(n, d)
w = torch.randn(d, 1) / d**0.5
y = torch.sin(x @ w) * 2 + 0.3 * (x[:, :4] ** 2).sum(1, keepdim=True) + 0.1 * torch.randn(n, 1)
x_train, y_train, x_val, y_val = x[:16_000], y[:16_000], x[16_000:], y[16_000:]
mean, std = y_train.mean(), y_train.std()
loader = DataLoader(TensorDataset(x_train, (y_train - mean) / std), batch_size=64, shuffle=True)

model = nn.Sequential(
    nn.Linear(d, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 1)
)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
loss_fn = nn.MSELoss()

for epoch in range(8):
    model.train()
    total = 0.0
    for xb, yb in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(xb)
    model.eval()
    with torch.no_grad():
        val = loss_fn(model(x_val), (y_val - mean) / std).item()
    print(f"epoch {epoch}: train {total / len(x_train):.4f} val {val:.4f}")
