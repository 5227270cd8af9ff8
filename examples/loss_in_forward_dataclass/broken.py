"""Classify 16-dimensional sentence embeddings into 4 intents with a 16-128-128-4 ReLU classifier whose forward(x, labels=None) returns a @dataclass ClassifierOutput(loss, logits), like a Hugging Face ModelOutput, trained by AdamW at lr=0.5.

lr=0.5 is several hundred times what AdamW needs here (1e-3): the first steps
move every weight by about 0.5, far past any minimum, every ReLU unit of the
second layer dies and the logits collapse onto the classifier's bias. The loss
settles at the loss of the class prior (about log(4)) and the accuracy at the
share of the most frequent intent (0.28; chance is 0.25).

Expected: FD501 learning-rate-too-high, FD301 dead-relu, FD204 collapsed-output, FD601 loss-not-decreasing
"""
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class ClassifierOutput:
    loss: torch.Tensor | None
    logits: torch.Tensor


class IntentClassifier(nn.Module):
    def __init__(self, dim=16, hidden=128, num_labels=4):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.classifier = nn.Linear(hidden, num_labels)

    def forward(self, x, labels=None):
        logits = self.classifier(self.encoder(x))
        loss = F.cross_entropy(logits, labels) if labels is not None else None
        return ClassifierOutput(loss=loss, logits=logits)


torch.manual_seed(0)

# 1024 sentence embeddings; the intent depends nonlinearly on four directions
x = torch.randn(1024, 16)
labels = 2 * (x[:, 0] + 0.5 * x[:, 1] ** 2 > 0.5).long() + (x[:, 2] * x[:, 3] > 0).long()

model = IntentClassifier()
optimizer = torch.optim.AdamW(model.parameters(), lr=0.5)

for step in range(1, 401):
    optimizer.zero_grad()
    out = model(x, labels=labels)
    out.loss.backward()
    optimizer.step()
    if step == 1 or step % 100 == 0:
        acc = (out.logits.argmax(-1) == labels).float().mean().item()
        print(f"step {step:4d} | loss {out.loss.item():.4f} | accuracy {acc:.3f}")

print(f"final loss {out.loss.item():.4f}, accuracy {acc:.3f} (chance: loss {math.log(4):.4f}, accuracy 0.25)")
