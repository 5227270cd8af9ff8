"""A model of two inputs (numbers and category ids): the batch is a list [x_num, ids, y] and the model takes
a dict {"num": ..., "ids": ...}. Healthy."""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(20, 8)
        self.body = nn.Sequential(nn.Linear(4 + 8, 64), nn.ReLU(), nn.Linear(64, 1))

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.body(torch.cat([features["num"], self.embed(features["ids"])], dim=1))


torch.manual_seed(0)
num = torch.randn(1024, 4)
ids = torch.randint(0, 20, (1024,))
effect = torch.randn(20)
y = num[:, :1] - num[:, 1:2] + effect[ids].view(-1, 1)
loader = DataLoader(TensorDataset(num, ids, y), batch_size=64, shuffle=True)
model = TwoInputs()
optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
for epoch in range(100):
    for batch in loader:
        x_num, x_ids, target = list(batch)
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model({"num": x_num, "ids": x_ids}), target)
        loss.backward()
        optimizer.step()
