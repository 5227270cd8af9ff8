"""Exits with sys.exit(3) after building the model, before any training step."""

import sys

import torch
from torch import nn

model = nn.Linear(4, 1)
optimizer = torch.optim.Adam(model.parameters())
sys.exit(3)
