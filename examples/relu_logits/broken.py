"""A 10-class classifier whose last Linear layer is followed by a ReLU, trained with CrossEntropyLoss.

The mistake of the PyTorch "Learn the Basics" tutorial model until 2021 (its
nn.Sequential ended in nn.ReLU() after the 10-unit output layer; reported in
pytorch/tutorials issue 1526, fixed in pull requests 1644 and 1654):
CrossEntropyLoss expects logits, any real number per class, and applies
log_softmax itself. After the ReLU every logit is at least 0, so the model
can't push a wrong class below the others' floor, and a class whose logit is
negative on every input is stuck at 0 with exactly zero gradient: here one
of the ten classes is dead from the first epochs and the accuracy stalls
below what the same network reaches without the ReLU (the healthy twin).

Expected: FD203 loss-activation-mismatch
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
    nn.Linear(64, classes),
    nn.ReLU(),  # on the logits
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
