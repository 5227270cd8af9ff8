"""Pre-train a 10-64-64 ReLU trunk with a 4-output regression head on task A (4 nonlinear functions of 10 features), save its state_dict to an in-memory buffer, reload it into a new model, freeze the trunk, swap in a 2-class head and fine-tune on task B (a sign that depends on the task-A functions).

The fine-tuning optimizer is built on model.head.parameters() one line
before model.head is replaced by the new 2-class head. The optimizer keeps
the old 4-output head, which is no longer part of the model; the new head is
in no optimizer and keeps its random initial weights, and the trunk is
frozen, so nothing trains at all: the task-B loss stays at its initial 1.08
(above chance's 0.693) and the accuracy at 0.57, the share of the one class
the random head predicts for every sample.

Expected: FD504 params-not-updated, FD602 cannot-overfit-batch, FD601 loss-not-decreasing
Check with: --stage 2
"""
import io

import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, n_out):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU())
        self.head = nn.Linear(64, n_out)

    def forward(self, x):
        return self.head(self.trunk(x))


torch.manual_seed(0)

x = torch.randn(2048, 10)
task_a = torch.stack([torch.sin(2 * x[:, 0]), x[:, 1] * x[:, 2], torch.tanh(x[:, 3] + x[:, 4]), x[:, 5] ** 2 - 1], dim=1)
task_b = (task_a[:, 0] + task_a[:, 1] - task_a[:, 3] > 0).long()

# stage 1: pre-train on task A
pretrained = Net(n_out=4)
optimizer = torch.optim.Adam(pretrained.parameters(), lr=3e-3)
for step in range(1, 401):
    optimizer.zero_grad()
    loss = F.mse_loss(pretrained(x), task_a)
    loss.backward()
    optimizer.step()
print(f"pre-training: final loss {loss.item():.4f}, variance of the task-A targets {task_a.var(0).mean().item():.4f}")
buffer = io.BytesIO()
torch.save(pretrained.state_dict(), buffer)

# stage 2: fine-tune a linear probe on task B
buffer.seek(0)
model = Net(n_out=4)
model.load_state_dict(torch.load(buffer))
model.trunk.requires_grad_(False)
optimizer = torch.optim.Adam(model.head.parameters(), lr=1e-2)
model.head = nn.Linear(64, 2)  # task B has 2 classes
for step in range(1, 301):
    optimizer.zero_grad()
    logits = model(x)
    loss = F.cross_entropy(logits, task_b)
    loss.backward()
    optimizer.step()
    if step == 1 or step % 100 == 0:
        acc = (logits.argmax(-1) == task_b).float().mean().item()
        print(f"fine-tune step {step:3d} | loss {loss.item():.4f} | accuracy {acc:.3f}")

print(f"final task-B loss {loss.item():.4f}, accuracy {acc:.3f} (chance: loss 0.6931, accuracy 0.5)")
