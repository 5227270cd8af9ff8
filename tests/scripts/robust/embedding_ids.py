"""Integer token ids into an embedding bag, classifying 4 classes by which tokens appear."""

import torch
from torch import nn

torch.manual_seed(0)
ids = torch.randint(0, 50, (512, 6))
labels = (ids % 4).mode(dim=1).values
model = nn.Sequential(nn.Embedding(50, 16), nn.Flatten(), nn.Linear(96, 32), nn.ReLU(), nn.Linear(32, 4))
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
for step in range(300):
    idx = torch.randint(0, 512, (64,))
    opt.zero_grad()
    loss = nn.functional.cross_entropy(model(ids[idx]), labels[idx])
    loss.backward()
    opt.step()
print("final", loss.item())
