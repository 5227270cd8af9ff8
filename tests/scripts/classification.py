"""Loop style: shuffled mini-batch training of a 3-class classifier with nn.CrossEntropyLoss, integer targets and Adam."""

import torch
from torch import nn

torch.manual_seed(0)

# three Gaussian blobs in 4-D
centers = torch.tensor([[2.0, 0.0, 0.0, 1.0], [-2.0, 1.0, 0.0, -1.0], [0.0, -2.0, 1.5, 0.0]])
labels = torch.randint(0, 3, (600,))
X = centers[labels] + 0.7 * torch.randn(600, 4)
Y = labels  # int64 class indices

model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
loss_fn = nn.CrossEntropyLoss()

step = 0
batch_size = 32
for epoch in range(15):
    perm = torch.randperm(X.shape[0])
    running, correct = 0.0, 0
    for start in range(0, X.shape[0], batch_size):
        idx = perm[start : start + batch_size]
        xb, yb = X[idx], Y[idx]
        optimizer.zero_grad()
        logits = model(xb)
        loss = loss_fn(logits, yb)
        loss.backward()
        optimizer.step()
        step += 1
        running += loss.item() * len(idx)
        correct += (logits.argmax(1) == yb).sum().item()
    print(f"epoch {epoch} loss {running / X.shape[0]:.4f} acc {correct / X.shape[0]:.3f} (steps {step})")
