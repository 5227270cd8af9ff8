"""Regress a decaying weighted sum of 16-step sequences with a GRU, fed (batch, time, feature) tensors while the GRU keeps PyTorch's default batch_first=False.

The data is built batch-first, as NumPy and most tutorials lay it out, and
the head reads `out[:, -1]` ("the last time step of every sequence"). But
nn.GRU reads a 3-D input as (time, batch, feature) unless it is created with
batch_first=True: it runs over the 64 *samples* of each batch as if they were
one sequence, and `out[:, -1]` is the state at the last of 16 "batch
entries". Every prediction mixes the samples before it in the batch and
sees only one step of its own sequence; the loss stalls far above what the
same GRU reaches with batch_first=True (the healthy twin).

Expected: FD206 sequence-axis
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
        self.gru = nn.GRU(1, hidden)  # batch_first defaults to False: expects (time, batch, feature)
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
