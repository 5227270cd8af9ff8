"""A 10-class classifier whose last Linear layer feeds CrossEntropyLoss directly (the healthy twin of broken.py).

The same data, network and loop as broken.py without the ReLU on the logits:
CrossEntropyLoss gets raw scores, as it expects.

Expected: none
"""
import torch
from torch import nn

torch.manual_seed(0)
n, features, classes = 2048, 20, 10
x = torch.randn(n, features)
y = (x[:, :10] @ torch.randn(10, classes)).argmax(1)

model = nn.Sequential(
    nn.Linear(features, 64),
    nn.ReLU(),
    nn.Linear(64, 64),
    nn.ReLU(),
    nn.Linear(64, classes),  # fix: no ReLU after the output layer: CrossEntropyLoss takes logits
)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
loss_fn = nn.CrossEntropyLoss()

for epoch in range(10):
    for i in range(0, n, 64):
        optimizer.zero_grad()
        loss = loss_fn(model(x[i : i + 64]), y[i : i + 64])
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        accuracy = (model(x).argmax(1) == y).float().mean()
    print(f"epoch {epoch}: loss {loss.item():.3f}, accuracy {accuracy:.3f}")
