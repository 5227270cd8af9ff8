"""Dict batches, a StepLR scheduler, and a no_grad evaluation pass every 20 steps."""

import torch
from torch import nn

torch.manual_seed(0)
data = [{"x": torch.randn(32, 4), "y": None} for _ in range(8)]
for b in data:
    b["y"] = b["x"][:, :1] * 2 - b["x"][:, 1:2]
model = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 1))
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
sched = torch.optim.lr_scheduler.StepLR(opt, step_size=100, gamma=0.5)
loss_fn = nn.MSELoss()
for step in range(400):
    batch = data[step % len(data)]
    opt.zero_grad()
    loss = loss_fn(model(batch["x"]), batch["y"])
    loss.backward()
    opt.step()
    sched.step()
    if step % 20 == 0:
        with torch.no_grad():
            val = loss_fn(model(data[0]["x"]), data[0]["y"])
        print(step, loss.item(), val.item())
