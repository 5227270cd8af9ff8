"""An LSTM sequence classifier as people write it: padded token sequences, embedding, LSTM, last hidden state."""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
vocab, length, n = 500, 40, 8000
g = torch.Generator().manual_seed(0)
tokens = torch.randint(2, vocab, (n, length), generator=g)
positive = torch.arange(2, 50)
negative = torch.arange(50, 100)
labels = torch.randint(0, 2, (n,), generator=g)
for i in range(n):
    pool = positive if labels[i] == 1 else negative
    slots = torch.randint(0, length, (4,), generator=g)
    tokens[i, slots] = pool[torch.randint(0, len(pool), (4,), generator=g)]
loader = DataLoader(TensorDataset(tokens, labels), batch_size=64, shuffle=True)


class Classifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, 64)
        self.lstm = nn.LSTM(64, 128, batch_first=True)
        self.head = nn.Linear(128, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, (h, _) = self.lstm(self.embed(x))
        return self.head(h[-1])


model = Classifier()
optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
criterion = nn.CrossEntropyLoss()
for epoch in range(3):
    correct = 0
    for x, y in loader:
        optimizer.zero_grad()
        out = model(x)
        loss = criterion(out, y)
        loss.backward()
        optimizer.step()
        correct += (out.argmax(1) == y).sum().item()
    print(f"epoch {epoch}: loss {loss.item():.3f} train accuracy {correct / n:.3f}")
