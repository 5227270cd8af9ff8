"""A classifier whose forward ends in log_softmax over dim=0, the batch, instead of dim=1, the classes.

The mistake of many "my loss is stuck" threads (e.g. PyTorch forums, "Softmax dim=0 or dim=1?"): with an (N, C)
output, dim=0 normalises each class score against the other samples of the batch. The NLL loss stays near
log(batch size) and a sample's prediction depends on which batch it is in.

Expected: FD205 softmax-dim, FD602 cannot-overfit-batch, FD601 loss-not-decreasing
"""

import torch
from torch import nn

torch.manual_seed(0)
n, classes = 512, 4
x = torch.randn(n, 8)
y = (x @ torch.randn(8, classes)).argmax(1)


class Classifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.body(x), dim=0)


model = Classifier()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
for epoch in range(10):
    for i in range(0, n, 64):
        optimizer.zero_grad()
        loss = nn.functional.nll_loss(model(x[i : i + 64]), y[i : i + 64])
        loss.backward()
        optimizer.step()
    print(f"epoch {epoch}: loss {loss.item():.3f}")
