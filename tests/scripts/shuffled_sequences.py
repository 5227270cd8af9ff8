"""A GRU that reads 16 steps of a signal and predicts a discounted sum of it, trained with SGD and momentum, whose
targets were shuffled with a second permutation (the inputs with one, the targets with another): every sequence
has another sequence's target. The target controls' linear feature spreads over all 16 steps, more than a GRU
keeps in 300 steps; the teacher control (another draw of the same GRU) decides it.

Run with --paired for the healthy twin.
Expected: FD105 no-signal
"""

import argparse

import torch
from torch import nn

parser = argparse.ArgumentParser()
parser.add_argument("--paired", action="store_true")
args = parser.parse_args()

torch.manual_seed(0)
x = torch.randn(512, 16, 1)
decay = 0.8 ** torch.arange(15, -1, -1, dtype=torch.float32)
y = (x[:, :, 0] * decay).sum(1, keepdim=True)
y = (y - y.mean()) / y.std()
order = torch.randperm(len(x))
x = x[order]  # "shuffle the data" ...
y = y[order] if args.paired else y[torch.randperm(len(y))]  # ... the targets with a second permutation


class Regressor(nn.Module):
    def __init__(self, hidden: int = 32) -> None:
        super().__init__()
        self.gru = nn.GRU(1, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(seq)
        return self.head(out[:, -1])


model = Regressor()
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
for epoch in range(12):
    for i in range(0, len(x), 32):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x[i : i + 32]), y[i : i + 32])
        loss.backward()
        optimizer.step()
print(f"final loss {loss.item():.3f}")
