"""Loop style: mini-batch loop whose body is wrapped in try/except Exception (skipping bad batches), with the whole training call wrapped in another try/except."""

import torch
from torch import nn

torch.manual_seed(0)

X = torch.rand(512, 2) * 2 - 1
Y = torch.sin(2 * X[:, :1]) + 0.5 * X[:, 1:]

model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
loss_fn = nn.MSELoss()


def train(epochs=20, batch_size=32):
    step = 0
    for epoch in range(epochs):
        perm = torch.randperm(X.shape[0])
        running, n = 0.0, 0
        for start in range(0, X.shape[0], batch_size):
            try:
                idx = perm[start : start + batch_size]
                xb, yb = X[idx], Y[idx]
                optimizer.zero_grad()
                loss = loss_fn(model(xb), yb)
                loss.backward()
                optimizer.step()
                step += 1
                running += loss.item()
                n += 1
            except Exception as e:
                print("skipping batch", e)
        print(f"epoch {epoch} mean loss {running / max(n, 1):.4f} (steps {step})")


try:
    train()
except Exception as e:
    print("training failed:", e)
