"""Fit exp(x)·x − 10 with a 1-64-64-1 MLP trained by DistributedDataParallel on 2 CPU processes (gloo),
launched with torchrun; the twin of broken.py without the GELU after the last layer.

Run it as: torchrun --nproc-per-node 2 healthy.py (check it: fitdoctor check --nproc-per-node 2 healthy.py).
The output layer is linear, so it reaches the targets (about -10.4 to 4.8) and the loss falls to near zero.

Check with: --nproc-per-node 2
Expected: none
"""
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler


class Net(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.fc1 = nn.Linear(1, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, 1)

    def forward(self, x):
        x = F.gelu(self.fc1(x))
        x = F.gelu(self.fc2(x))
        return self.fc3(x)  # fix: no activation after the last layer


def main():
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.manual_seed(0)  # the same initial weights on every rank (DDP also broadcasts rank 0's)

    x = torch.linspace(-2, 2, 512).unsqueeze(-1)
    y = torch.exp(x) * x - 10
    dataset = TensorDataset(x, y)
    sampler = DistributedSampler(dataset, shuffle=True, seed=0)
    loader = DataLoader(dataset, batch_size=32, sampler=sampler)

    model = DistributedDataParallel(Net())
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = nn.MSELoss()

    for epoch in range(40):
        sampler.set_epoch(epoch)
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
        if rank == 0 and epoch % 10 == 0:
            print(f"epoch {epoch:3d} | loss {loss.item():.4f}")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
