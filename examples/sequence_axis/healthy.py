"""Regress a decaying weighted sum of 16-step sequences with a GRU created with batch_first=True, fed (batch, time, feature) tensors.

The healthy twin of broken.py: the same data, model and loop, with the GRU
told that the batch comes first, so `out[:, -1]` is the last step of each
sample's own sequence and the loss falls to a small fraction of the
variance.

Expected: none
"""
import torch
from torch import nn

torch.manual_seed(0)
samples, steps = 512, 16
x = torch.randn(samples, steps, 1)  # (batch, time, feature)
weights = 0.8 ** torch.arange(steps - 1, -1, -1.0)  # recent steps count most
y = (x[..., 0] * weights).sum(1, keepdim=True) / weights.norm()


class SequenceRegressor(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.gru = nn.GRU(1, hidden, batch_first=True)  # fix: the data is (batch, time, feature)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        out, _ = self.gru(x)
        return self.head(out[:, -1])


model = SequenceRegressor()
optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
loss_fn = nn.MSELoss()

for epoch in range(8):
    for i in range(0, samples, 64):
        xb, yb = x[i : i + 64], y[i : i + 64]
        optimizer.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        optimizer.step()
    print(f"epoch {epoch}: loss {loss.item():.4f}")
