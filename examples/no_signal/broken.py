"""Classify 4 kinds of sensor readings from 12 measurements; the script "shuffles the dataset" with two permutations.

The data is read in class order, so the script shuffles it before
batching, but it draws one permutation for the features and another for
the labels: every row now carries another row's label. The network can
only memorise: the training loss falls from ln 4 = 1.386 to 1.10 in 20
epochs while accuracy on fresh rows stays at chance (26 %, against 25 %).
Nothing about the model or the optimizer is wrong: the healthy twin, with
one permutation for both, reaches 99 %. Labels shuffled apart from their
inputs come up in forum threads about accuracy stuck at chance.

Expected: FD105 no-signal
"""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
n, classes = 1024, 4
centers = torch.randn(classes, 12) * 1.5
labels = torch.arange(n) % classes
labels = labels.sort().values  # the file is read in class order
features = centers[labels] + torch.randn(n, 12)

features = features[torch.randperm(n)]
labels = labels[torch.randperm(n)]  # a second permutation: the pairs are broken

loader = DataLoader(TensorDataset(features, labels), batch_size=64)
model = nn.Sequential(nn.Linear(12, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, classes))
optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)

for epoch in range(20):
    total = 0.0
    for x, y in loader:
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        total += loss.item()
    if epoch % 5 == 0:
        print(f"epoch {epoch}: loss {total / len(loader):.3f}")

test_labels = torch.arange(400) % classes
test_x = centers[test_labels] + torch.randn(400, 12)
with torch.no_grad():
    accuracy = (model(test_x).argmax(1) == test_labels).float().mean()
print(f"accuracy on fresh rows: {accuracy:.1%}")
