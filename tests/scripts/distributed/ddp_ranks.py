"""A DistributedDataParallel regression whose net ends in Softplus (outputs > 0) against targets that are all
negative; every rank prints its process id first, so a test can check that none outlives the check."""

import os
import sys

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

dist.init_process_group("gloo")
rank = dist.get_rank()
print(f"rank {rank} pid {os.getpid()} of {dist.get_world_size()}", file=sys.stderr, flush=True)
torch.manual_seed(0)
x = torch.randn(256, 4)
y = -3 - x.sum(dim=1, keepdim=True).abs()  # every target below zero
shard = slice(rank, None, dist.get_world_size())
model = DistributedDataParallel(nn.Sequential(nn.Linear(4, 32), nn.Tanh(), nn.Linear(32, 1), nn.Softplus()))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
for step in range(300):
    optimizer.zero_grad()
    loss = nn.functional.mse_loss(model(x[shard]), y[shard])
    loss.backward()
    optimizer.step()
dist.destroy_process_group()
