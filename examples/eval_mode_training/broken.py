"""A 3-class classifier with BatchNorm and Dropout, evaluated before training with model.eval() and never switched back.

The validation pass before the loop puts the model in eval mode and nothing
calls model.train(): every training step then runs with dropout off and batch
norm normalising with its running statistics (mean 0, variance 1, never
updated), so the features reach the ReLU unnormalised.

Expected: FD505 eval-mode-training
"""
import torch
from torch import nn

torch.manual_seed(0)
centers = torch.randn(3, 20) * 0.3 + 4.0           # features sit around 4, close together
labels = torch.randint(0, 3, (600,))
x = centers[labels] + 0.8 * torch.randn(600, 20)
x_val, y_val = x[:100], labels[:100]
x_train, y_train = x[100:], labels[100:]

model = nn.Sequential(
    nn.Linear(20, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Dropout(0.3),
    nn.Linear(64, 3),
)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.05)

model.eval()
with torch.no_grad():
    print("val loss before training", criterion(model(x_val), y_val).item())

for epoch in range(30):
    perm = torch.randperm(len(x_train))
    for i in range(0, len(x_train), 50):
        idx = perm[i:i + 50]
        optimizer.zero_grad()
        loss = criterion(model(x_train[idx]), y_train[idx])
        loss.backward()
        optimizer.step()
    if epoch % 10 == 0:
        print(f"epoch {epoch} loss {loss.item():.4f}")

model.eval()
with torch.no_grad():
    acc = (model(x_val).argmax(1) == y_val).float().mean().item()
print(f"val accuracy {acc:.3f}")
