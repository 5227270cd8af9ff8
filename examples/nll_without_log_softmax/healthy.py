"""Classify 600 points of a 3-arm spiral in 2-D with a 2-64-64-3 ReLU MLP that returns log_softmax of its last layer, trained with nn.NLLLoss and Adam in mini-batches of 32.

Same data, model and optimiser as broken.py; the only change is that forward()
applies F.log_softmax(dim=1) to the last layer, so nn.NLLLoss receives the
log-probabilities it expects and the pair computes the usual cross-entropy,
which is bounded below by 0 and falls towards it.

Expected: none
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


class Net(nn.Module):
    def __init__(self, hidden=64, n_classes=3):
        super().__init__()
        self.fc1 = nn.Linear(2, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, n_classes)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return F.log_softmax(self.out(x), dim=1)  # fix: log-probabilities (was: self.out(x))


torch.manual_seed(0)

# 3 spiral arms, 200 noisy points each
points, labels = [], []
for k in range(3):
    r = torch.linspace(0.1, 1.0, 200)
    theta = k * 2 * math.pi / 3 + 3 * r + 0.2 * torch.randn(200)
    points.append(torch.stack([r * torch.cos(theta), r * torch.sin(theta)], dim=1))
    labels.append(torch.full((200,), k))
X, y = torch.cat(points), torch.cat(labels)

model = Net()
loss_fn = nn.NLLLoss()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)


def evaluate():
    with torch.no_grad():
        out = model(X)
    return loss_fn(out, y).item(), (out.argmax(dim=1) == y).float().mean().item()


n, batch_size = len(X), 32
step = 0
for epoch in range(80):
    perm = torch.randperm(n)
    for i in range(0, n, batch_size):
        idx = perm[i:i + batch_size]
        opt.zero_grad()
        loss = loss_fn(model(X[idx]), y[idx])
        loss.backward()
        opt.step()
        if step % 200 == 0:
            full_loss, acc = evaluate()
            print(f"step {step:5d}  loss {full_loss:.4f}  accuracy {acc:.3f}")
        step += 1

full_loss, acc = evaluate()
print(f"final loss {full_loss:.4f}  accuracy {acc:.3f}  (uniform guess: {math.log(3):.4f})")
