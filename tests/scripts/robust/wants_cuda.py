"""Moves the model to CUDA unconditionally."""

from torch import nn

model = nn.Linear(2, 1).to("cuda")
