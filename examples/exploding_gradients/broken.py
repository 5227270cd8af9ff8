"""Regress y = sin(x0) + 0.5*x1*x2 from 8 Gaussian features with a 6-layer, width-64 ReLU MLP whose weights are all drawn from N(0, 1).

N(0, 1) weights are far too large for a layer with 64 inputs: every layer
multiplies the activations by about sqrt(64/2) = 5.7, so the first outputs
are ~1e4 and the first loss ~1e8. The gradients are just as large: after one
SGD step the loss is inf, and from the third step on it is NaN.

Expected: FD303 poor-initialization, FD402 exploding-gradients, FD301 dead-relu
"""
import torch
import torch.nn as nn

torch.manual_seed(0)

x = torch.randn(512, 8)
y = torch.sin(x[:, :1]) + 0.5 * x[:, 1:2] * x[:, 2:3]

model = nn.Sequential(
    nn.Linear(8, 64), nn.ReLU(),
    nn.Linear(64, 64), nn.ReLU(),
    nn.Linear(64, 64), nn.ReLU(),
    nn.Linear(64, 64), nn.ReLU(),
    nn.Linear(64, 64), nn.ReLU(),
    nn.Linear(64, 1),
)
# bigger weights learn faster
with torch.no_grad():
    for p in model.parameters():
        p.normal_(0.0, 1.0)

criterion = nn.MSELoss()
optimizer = torch.optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)

for step in range(1, 1001):
    optimizer.zero_grad()
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()
    if step == 1 or step % 200 == 0:
        print(f"step {step:4d} | loss {loss.item():.4g}")

print(f"final loss {loss.item():.4g}, variance of y {y.var().item():.4f}")
